"""The reporting service's settings, read from the environment (`HOINHAP_REPORTING_<FIELD>`, and the suite's own)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

#: The service's Alembic migrations.
MIGRATIONS = Path(__file__).parent / "migrations"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOINHAP_REPORTING_", extra="ignore", frozen=True)

    port: int = Field(default=8004, ge=1, le=65535, description="Port the HTTP server listens on.")
    db_schema: str = Field(default="reporting", description="PostgreSQL schema holding reporting's tables.")
    suppression_threshold: int = Field(
        default=5, ge=2, description="With suppress=true, counts from 1 to this minus one are withheld."
    )
    read_cache_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How long a rendered read is reused at most (0 turns the cache off). Every commit that changes "
        "the views, here, in another replica or a rebuild's swap, empties the cache at once (PostgreSQL NOTIFY).",
    )
    rebuild_processes: int = Field(
        default=3,
        ge=1,
        le=64,
        description="Processes `hoinhap reporting rebuild` replays the topics in, each taking the partitions of "
        "one number (so at most as many as a topic has partitions); the replay is bound by Python, one core each.",
    )
