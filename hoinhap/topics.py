"""`hoinhap topics check|fix`: how long each topic keeps its records, and the contract's topics made to keep theirs
for ever (a rebuild replays them from their start)."""

from __future__ import annotations

import asyncio
import os
import sys

from aiokafka.admin import AIOKafkaAdminClient

from shared.events import all_topics
from shared.topics import Retention, contract_topics, describe_retention, keep_for_ever


def main(action: str) -> int:
    """`check`: print each topic's retention, 1 if a topic of the contract would expire records. `fix`: make those
    keep their records for ever."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "127.0.0.1:9092"
    return asyncio.run(_run(bootstrap, os.environ.get("HOINHAP_TOPIC_PREFIX", ""), fix=action == "fix"))


async def _run(bootstrap_servers: str, prefix: str, *, fix: bool) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        retention = await describe_retention(admin, [t for t in all_topics(prefix) if t in existing])
        expiring = [r for r in retention if r.finite and r.topic in contract_topics(prefix)]
        if fix:
            await keep_for_ever(admin, [r.topic for r in expiring])
    finally:
        await admin.close()
    _print(retention, expiring, [t for t in all_topics(prefix) if t not in existing], fixed=fix)
    if expiring and not fix:
        print(
            f"{len(expiring)} topics of the contract would expire records, and a rebuild replaying them lose "
            "history: `hoinhap topics fix` makes them keep their records for ever",
            file=sys.stderr,
        )
        return 1
    return 0


def _print(retention: list[Retention], expiring: list[Retention], missing: list[str], *, fixed: bool) -> None:
    for topic in retention:
        if topic in expiring:
            verdict = "now kept for ever" if fixed else "WOULD EXPIRE RECORDS"
        else:
            verdict = "expires records (the dead-letter topic may)" if topic.finite else "kept for ever"
        print(f"{topic.topic}: {topic}: {verdict}")
    for name in missing:
        print(f"{name}: missing (a service creates it when it starts)")
