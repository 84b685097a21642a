"""Alembic environment of the facility service."""

from services.facility.models import metadata
from shared.database import run_migrations

run_migrations(metadata)
