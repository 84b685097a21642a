"""The contract's topics as the system of record: the configs they are made with (kept for ever, copied to as many
brokers as the deployment says), and what the broker says of how long each keeps its records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Boolean, Int8, Int16, Int32, Schema, String

from shared.events import DEADLETTER_TOPIC, all_topics
from shared.settings import ServiceSettings

#: A retention that never expires records (Kafka's -1, for `retention.ms` and `retention.bytes`).
FOREVER = -1
RETENTION_KEYS = ("retention.ms", "retention.bytes")


@dataclass(frozen=True)
class TopicPolicy:
    """How the topics keep their records: on how many brokers, how many copies acknowledge a write, and how long
    the dead-letter topic keeps what it is given (the contract's topics keep theirs for ever: a rebuild replays
    them from their start)."""

    replication_factor: int = 1
    min_insync_replicas: int = 1
    deadletter_retention_days: float = 30

    @classmethod
    def of(cls, settings: ServiceSettings) -> TopicPolicy:
        return cls(
            settings.topic_replication_factor,
            settings.topic_min_insync_replicas,
            settings.deadletter_retention_days,
        )

    def configs(self, topic: str, prefix: str) -> dict[str, str]:
        """What `topic` is created with."""
        days = self.deadletter_retention_days
        kept = FOREVER if topic != prefix + DEADLETTER_TOPIC or days < 0 else round(days * 86_400_000)
        return {
            "retention.ms": str(kept),
            "retention.bytes": str(FOREVER),
            "min.insync.replicas": str(self.min_insync_replicas),
        }


#: The defaults: one broker (the sandbox, the tests), the dead-letter topic kept for 30 days.
ONE_BROKER = TopicPolicy()


def contract_topics(prefix: str) -> list[str]:
    """The topics of the contract's events, the system of record (the dead-letter topic is not one)."""
    return [t for t in all_topics(prefix) if t != prefix + DEADLETTER_TOPIC]


@dataclass(frozen=True)
class Retention:
    """What the broker says of how long a topic keeps its records (None: it names no such config)."""

    topic: str
    ms: int | None
    bytes: int | None

    @property
    def finite(self) -> bool:
        """The broker would delete records of this topic, by age or by size."""
        return any(limit is not None and limit != FOREVER for limit in (self.ms, self.bytes))

    def __str__(self) -> str:
        def shown(limit: int | None) -> str:
            return "unset" if limit is None else "for ever" if limit == FOREVER else f"{limit:,}"

        return f"retention.ms={shown(self.ms)} retention.bytes={shown(self.bytes)}"


async def retention_of(bootstrap_servers: str, topics: Iterable[str]) -> list[Retention]:
    """The retention of each of `topics` (they must exist), on a connection of its own."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        return await describe_retention(admin, topics)
    finally:
        await admin.close()


async def describe_retention(admin: AIOKafkaAdminClient, topics: Iterable[str]) -> list[Retention]:
    """The retention of each of `topics`, as the broker describes it (all configs asked: Tansu 0.6 drops the
    connection when asked for named ones)."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
    if not resources:
        return []
    found: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for error_code, message, _, name, entries in (r[:5] for r in response.get_item("resources")):
            _raise_for(error_code, message, name)
            found[name] = {entry[0]: entry[1] for entry in entries}
    return [
        Retention(r.name, _limit(found[r.name], "retention.ms"), _limit(found[r.name], "retention.bytes"))
        for r in resources
    ]


def _limit(configs: Mapping[str, str], key: str) -> int | None:
    value = configs.get(key)
    return None if value is None else int(value)


async def keep_for_ever(admin: AIOKafkaAdminClient, topics: Iterable[str]) -> None:
    """Set `retention.ms` and `retention.bytes` of `topics` to -1, leaving their other configs as they are."""
    await set_configs(admin, {t: dict.fromkeys(RETENTION_KEYS, str(FOREVER)) for t in topics})


async def set_configs(admin: AIOKafkaAdminClient, configs: Mapping[str, Mapping[str, str]]) -> None:
    """Set some configs of some topics (IncrementalAlterConfigs: the older AlterConfigs replaces every config of a
    topic with those given, and Tansu 0.6 has only the incremental one)."""
    if not configs:
        return
    request = _AlterConfigs(
        [(int(ConfigResourceType.TOPIC), t, [(k, _SET, v) for k, v in c.items()]) for t, c in configs.items()]
    )
    response = await admin._send_request(request)
    for error_code, message, _, name in response.get_item("responses"):
        _raise_for(error_code, message, name)


def _raise_for(error_code: int, message: str | None, topic: str) -> None:
    if error_code:
        raise for_code(error_code)(f"{topic}: {message or 'refused'}")


_SET = 0  # IncrementalAlterConfigs' operation: set the value


class _AlterConfigsResponse(Response):
    API_KEY = 44
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "responses",
            Array(
                ("error_code", Int16),
                ("error_message", String("utf-8")),
                ("resource_type", Int8),
                ("resource_name", String("utf-8")),
            ),
        ),
    )


class _AlterConfigsV0(RequestStruct):
    API_KEY = 44
    API_VERSION = 0
    RESPONSE_TYPE = _AlterConfigsResponse
    SCHEMA = Schema(
        (
            "resources",
            Array(
                ("resource_type", Int8),
                ("resource_name", String("utf-8")),
                ("configs", Array(("name", String("utf-8")), ("config_operation", Int8), ("value", String("utf-8")))),
            ),
        ),
        ("validate_only", Boolean),
    )


class _AlterConfigs(Request[_AlterConfigsV0]):
    """IncrementalAlterConfigs v0 (Kafka 2.3 on), which aiokafka lacks."""

    API_KEY = 44

    def __init__(self, resources: list[Any]) -> None:
        self.resources = resources

    def build(self, request_struct_class: type[_AlterConfigsV0]) -> _AlterConfigsV0:
        return request_struct_class(self.resources, False)
