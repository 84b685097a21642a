"""The intake service's settings, read from the environment (`HOINHAP_INTAKE_<FIELD>`, and the suite's own)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

#: The service's Alembic migrations.
MIGRATIONS = Path(__file__).parent / "migrations"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOINHAP_INTAKE_", extra="ignore", frozen=True)

    port: int = Field(default=8001, ge=1, le=65535, description="Port the HTTP server listens on.")
    db_schema: str = Field(default="intake", description="PostgreSQL schema holding intake's tables.")
    subject_key: SecretStr = Field(
        min_length=16,
        description="Secret key of the HMAC that turns a national ID into a subject pseudonym.",
    )
