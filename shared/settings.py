"""The settings every service shares; each service subclasses it with its own prefix and fields."""

from __future__ import annotations

import sys
from typing import Any, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Read from the environment: `HOINHAP_<FIELD>` for these, `HOINHAP_<SERVICE>_<FIELD>` for a service's own."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    database_url: SecretStr = Field(
        validation_alias=AliasChoices("HOINHAP_DATABASE_URL", "DATABASE_URL"),
        description="PostgreSQL URL, postgresql://user@host:port/dbname (a `host=` query names a socket directory).",
    )
    kafka_bootstrap_servers: str = Field(
        validation_alias=AliasChoices("HOINHAP_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
        description="Comma-separated host:port list of the Kafka-protocol brokers.",
    )
    topic_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        validation_alias="HOINHAP_TOPIC_PREFIX",
        description="Prefix put before every topic and consumer group name (tests, multi-tenant clusters).",
    )
    topic_partitions: int = Field(
        default=3,
        ge=1,
        validation_alias="HOINHAP_TOPIC_PARTITIONS",
        description="Partitions per topic when a service creates a missing topic.",
    )
    topic_replication_factor: int = Field(
        default=1,
        ge=1,
        validation_alias="HOINHAP_TOPIC_REPLICATION_FACTOR",
        description="Brokers holding a copy of each topic a service creates (3 on a production cluster).",
    )
    topic_min_insync_replicas: int = Field(
        default=1,
        ge=1,
        validation_alias="HOINHAP_TOPIC_MIN_INSYNC_REPLICAS",
        description="`min.insync.replicas` of each topic a service creates: copies that must have a record before "
        "the broker acknowledges it (2 on a production cluster of three).",
    )
    deadletter_retention_days: float = Field(
        default=30,
        ge=-1,
        validation_alias="HOINHAP_DEADLETTER_RETENTION_DAYS",
        description="How long the dead-letter topic keeps its records when a service creates it (-1: for ever); the "
        "contract's topics are the system of record and keep theirs for ever.",
    )
    admin_token: SecretStr = Field(
        validation_alias="HOINHAP_ADMIN_TOKEN",
        min_length=16,
        description="National operator token: reads and writes everywhere and issues agency tokens.",
    )
    log_level: str = Field(default="INFO", validation_alias="HOINHAP_LOG_LEVEL", description="Python log level name.")
    parking_timeout_seconds: float = Field(
        default=86_400,
        gt=0,
        validation_alias="HOINHAP_PARKING_TIMEOUT_SECONDS",
        description="How long an event may wait for the event it follows before it is dead-lettered as `unmatched`.",
    )
    parking_sweep_seconds: float = Field(
        default=30,
        gt=0,
        validation_alias="HOINHAP_PARKING_SWEEP_SECONDS",
        description="How often parked events are retried and those waiting past the timeout dead-lettered.",
    )
    host: str = Field(default="127.0.0.1", description="Interface the HTTP server listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the HTTP server listens on.")
    db_schema: str = Field(
        default="public",
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="PostgreSQL schema holding this service's tables.",
    )
    outbox_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        validation_alias="HOINHAP_OUTBOX_POLL_SECONDS",
        description="How often the outbox relay looks for rows written by other processes.",
    )
    outbox_retention_days: float = Field(
        default=7,
        ge=0,
        validation_alias="HOINHAP_OUTBOX_RETENTION_DAYS",
        description="How long published outbox events are kept, to be published again should the broker lose them.",
    )
    broker_check_seconds: float = Field(
        default=30,
        gt=0,
        validation_alias="HOINHAP_BROKER_CHECK_SECONDS",
        description="How often the service checks that the broker still holds its topics (a memory-only broker "
        "loses them when it restarts); when they are gone it recreates them and replays the retained outbox.",
    )
    consumer_max_records: int = Field(
        default=1000,
        ge=1,
        validation_alias="HOINHAP_CONSUMER_MAX_RECORDS",
        description="Most records fetched in one batch; a transaction takes the batches that waited for the writer "
        "(one at most; six in reporting, where larger transactions cost less per event).",
    )
    consumer_session_seconds: float = Field(
        default=6,
        ge=6,
        le=1800,
        validation_alias="HOINHAP_CONSUMER_SESSION_SECONDS",
        description="How long the broker waits for a consumer that stopped sending heartbeats (one every third of "
        "it) before it hands the consumer's partitions to the rest of its group: a replica that died stalls its "
        "partitions that long. Apache Kafka accepts 6 to 1,800 s unless configured otherwise.",
    )
    metrics_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        validation_alias="HOINHAP_METRICS_INTERVAL_SECONDS",
        description="How often the outbox backlog and consumer lag gauges are measured.",
    )

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, url: SecretStr) -> SecretStr:
        if not url.get_secret_value().startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
            raise ValueError("must be a postgresql:// URL")
        return url

    @property
    def service(self) -> str:
        """The service name, from the subclass's environment prefix (HOINHAP_INTAKE_ -> intake)."""
        prefix = str(self.model_config.get("env_prefix", ""))
        return prefix.removeprefix("HOINHAP_").rstrip("_").lower()

    @property
    def consumer_group(self) -> str:
        return f"{self.topic_prefix}hoinhap-{self.service}"


S = TypeVar("S", bound=BaseSettings)


def load(settings_class: type[S], **values: Any) -> S:
    """`settings_class(**values)`, the rest read from the environment; a setting missing or invalid ends the process
    (status 2) with one line per problem naming the environment variables to set and what the setting is."""
    try:
        return settings_class(**values)
    except ValidationError as error:
        for problem in error.errors(include_url=False, include_input=False):
            print(_explained(settings_class, problem["loc"], problem["msg"], problem["type"]), file=sys.stderr)
        raise SystemExit(2) from None


def env_names(settings_class: type[BaseSettings], field: str) -> list[str]:
    """The environment variables a field is read from, in the order they are tried."""
    alias = settings_class.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    if isinstance(alias, str):
        return [alias]
    return [f"{settings_class.model_config.get('env_prefix', '')}{field}".upper()]


def _explained(settings_class: type[BaseSettings], loc: tuple[int | str, ...], message: str, kind: str) -> str:
    """One line: the variables to set, what is wrong (never the value: it may be a secret), and the description."""
    name = str(loc[0]) if loc else ""
    fields = settings_class.model_fields
    field = next((f for f in fields if name == f or name.upper() in env_names(settings_class, f)), None)
    if field is None:
        return f"{settings_class.__module__}.{settings_class.__name__}: {message}"
    first, *others = env_names(settings_class, field)
    variables = f"{first} (or {', '.join(others)})" if others else first
    wrong = "not set" if kind == "missing" else message
    return f"{variables}: {wrong}; {fields[field].description}"
