"""Alembic environment of the intake service."""

from services.intake.models import metadata
from shared.database import run_migrations

run_migrations(metadata)
