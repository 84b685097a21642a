"""The facility service's settings, read from the environment (`HOINHAP_FACILITY_<FIELD>`, and the suite's own)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

#: The service's Alembic migrations.
MIGRATIONS = Path(__file__).parent / "migrations"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOINHAP_FACILITY_", extra="ignore", frozen=True)

    port: int = Field(default=8002, ge=1, le=65535, description="Port the HTTP server listens on.")
    db_schema: str = Field(default="facility", description="PostgreSQL schema holding facility's tables.")
