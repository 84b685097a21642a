"""Alembic environment of the aftercare service."""

from services.aftercare.models import metadata
from shared.database import run_migrations

run_migrations(metadata)
