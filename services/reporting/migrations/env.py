"""Alembic environment of the reporting service."""

from services.reporting.models import metadata
from shared.database import run_migrations

run_migrations(metadata)
