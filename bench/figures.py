"""Each figure of the benchmark, measured against the same broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.stream import Record
from hoinhap import local
from services.reporting.changes import channel
from shared.database import psql_params
from shared.events import all_topics, parse_event


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    events: int
    note: str = ""
    load: float = field(default_factory=lambda: round(os.getloadavg()[0], 2))  # 1-min load average when measured


async def publish(bootstrap: str, records: Sequence[Record]) -> float:
    """Publish records in order; returns seconds taken."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for r in records:
            pending.append(await producer.send(r.topic, r.value, key=r.key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


#: A limit is the best of a few runs: one COPY of 200,000 rows took 0.45 to 0.85 s in six runs in a row on one machine.
LIMIT_RUNS = 3


def _best(name: str, runs: Sequence[tuple[int, float]], unit: str, note: str) -> Figure:
    """The fastest of `runs` (count, seconds), the others' rates in the note."""
    rates = [round(count / seconds) for count, seconds in runs]
    best = max(range(len(runs)), key=rates.__getitem__)
    spread = " / ".join(f"{rate:,}" for rate in rates)
    return Figure(name, rates[best], unit, runs[best][0], f"{note}; best of {len(runs)}: {spread}")


def median_rate(name: str, runs: Sequence[tuple[float, float, int]], note: str) -> Figure:
    """The median of `runs` (events/s, seconds, records), every run's rate in the note."""
    ordered = sorted(runs)
    eps, seconds, count = ordered[len(ordered) // 2]
    spread = " / ".join(f"{rate:,.0f}" for rate, _, _ in runs)
    return Figure(name, round(eps), "events/s", count, f"{seconds:.1f}s, {note}; median of {len(runs)}: {spread}")


async def raw_consume(bootstrap: str, prefix: str, n: int) -> Figure:
    """aiokafka getmany over the same topics doing nothing: the broker/client limit."""
    runs = [await _read(bootstrap, prefix, n, _count) for _ in range(LIMIT_RUNS)]
    return _best("raw_consume_eps", runs, "events/s", "no consumer group, from the first fetch")


Fetch = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


async def _count(batch: Fetch) -> int:
    return sum(len(records) for records in batch.values())


async def _read(bootstrap: str, prefix: str, n: int, take: Callable[[Fetch], Awaitable[int]]) -> tuple[int, float]:
    """(records, seconds) for `n` records read from the topics' start in no group (no join to wait for), each fetch
    given to `take`, which returns how many records it took."""
    consumer = AIOKafkaConsumer(
        *all_topics(prefix),
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=10_000,
    )
    await consumer.start()
    got = 0
    try:
        started = time.perf_counter()
        while got < n:
            got += await take(await consumer.getmany(timeout_ms=1000, max_records=10_000))
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
    return got, elapsed


async def raw_copy(database_url: str, records: Sequence[Record]) -> Figure:
    """PostgreSQL COPY of one row per event from Python: the database's write limit."""
    rows = [(r.topic, r.key, r.value) for r in records]
    conn = await asyncpg.connect(**psql_params(database_url))
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS bench_copy (topic text, key bytea, value bytea)")
        runs = []
        for _ in range(LIMIT_RUNS):
            await conn.execute("TRUNCATE bench_copy")
            started = time.perf_counter()
            await conn.copy_records_to_table("bench_copy", records=rows)
            runs.append((len(rows), time.perf_counter() - started))
        await conn.execute("DROP TABLE bench_copy")
    finally:
        await conn.close()
    return _best("raw_copy_rps", runs, "rows/s", "asyncpg copy_records_to_table")


async def floor(bootstrap: str, prefix: str, database_url: str, n: int) -> Figure:
    """The least an exactly-once consumer does, in one process, the way the service does it: fetch, validate each
    event as the contract says (`parse_event`), COPY the ids into a table of the connection's own, insert them into
    a keyed table (ON CONFLICT DO NOTHING) and store the offsets, one transaction a fetch; no views, no overlap. What
    such a consumer could reach here before it counted anything."""
    conn = await asyncpg.connect(**psql_params(database_url))
    try:
        await conn.execute(
            "CREATE TEMP TABLE floor_staged (id text);"
            "CREATE TABLE floor_inbox (id text PRIMARY KEY);"
            "CREATE TABLE floor_offsets (topic text, part int, next bigint, PRIMARY KEY (topic, part))"
        )
        runs = []
        for _ in range(LIMIT_RUNS):
            await conn.execute("TRUNCATE floor_inbox, floor_offsets")
            runs.append(await _read(bootstrap, prefix, n, functools.partial(_written, conn)))
        await conn.execute("DROP TABLE floor_inbox, floor_offsets")
    finally:
        await conn.close()
    return _best("floor_eps", runs, "events/s", "fetch, validate, keyed insert and offsets a fetch; no views")


async def _written(conn: asyncpg.Connection, batch: Fetch) -> int:
    """One fetch validated and its ids and offsets written in a transaction of their own; how many records."""
    ids = [(parse_event(r.value or b"").id,) for records in batch.values() for r in records]
    if not ids:
        return 0
    async with conn.transaction():
        await conn.execute("TRUNCATE floor_staged")
        await conn.copy_records_to_table("floor_staged", records=ids)
        await conn.execute("INSERT INTO floor_inbox SELECT id FROM floor_staged ON CONFLICT DO NOTHING")
        await conn.executemany(
            "INSERT INTO floor_offsets VALUES ($1, $2, $3)"
            " ON CONFLICT (topic, part) DO UPDATE SET next = excluded.next",
            [(tp.topic, tp.partition, records[-1].offset + 1) for tp, records in batch.items()],
        )
    return len(ids)


async def analyze(database_url: str, schema: str) -> None:
    """Gather the planner's statistics on a schema's tables, as autovacuum does within a minute of a bulk change
    where it runs (it is off on some machines' PostgreSQL, this kind's included): reads planned blind are slower
    than any deployment's."""
    conn = await asyncpg.connect(**psql_params(database_url))
    try:
        for table in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema):
            await conn.execute(f'ANALYZE "{schema}"."{table["tablename"]}"')
    finally:
        await conn.close()


async def consumed(client: httpx.AsyncClient) -> float:
    """Records a service has finished with (applied, duplicate, rejected or parked), from its metrics."""
    try:
        text = (await client.get("/metrics")).text
    except httpx.TransportError:  # not listening yet: its lifespan is still starting
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("hoinhap_events_consumed_total{")
    )


async def consumption_rate(
    service: local.ServiceProcess, expected: int, quiet_seconds: float = 5.0
) -> tuple[float, float, int]:
    """(events/s, seconds, records) for a service to take the `expected` records on its topics (or as many as it
    takes before its count stays still for `quiet_seconds`, should it finish with fewer). The time runs from its
    group's first committed offset to its last (polled every 50 ms from before the service consumes anything; its
    HTTP server may come up only after it has consumed part of a backlog), plus one average batch for the first one,
    whose commit is the first seen: to views complete, since offsets are committed after the views."""
    group = f"{service.env['HOINHAP_TOPIC_PREFIX']}hoinhap-{service.name}"
    watch = _Offsets(service.env["KAFKA_BOOTSTRAP_SERVERS"], group, service.env["HOINHAP_TOPIC_PREFIX"])
    watcher = asyncio.create_task(watch.run())
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
            count = previous = 0.0
            last_change = started
            while True:
                count = await consumed(client)
                now = time.perf_counter()
                if count != previous:
                    last_change, previous = now, count
                if count >= expected or (count and now - last_change > quiet_seconds):
                    break
                if not count and now - started > 60:  # nothing for it on these topics
                    return 0.0, 0.0, 0
                # Rendering /metrics costs a consuming service; the offsets give the time. Before it consumes (it may
                # not be listening yet), the sooner the end is seen the sooner the next part begins.
                await asyncio.sleep(1.0 if count else 0.2)
            batches, seconds = await _batches(client)
        await asyncio.sleep(0.1)  # the last commit, seen by the watcher
    finally:
        watcher.cancel()
    elapsed = watch.span() + seconds / max(batches, 1)
    return count / elapsed, elapsed, int(count)


class _Offsets:
    """When a consumer group's committed offsets first moved and when they last did."""

    def __init__(self, bootstrap: str, group: str, prefix: str) -> None:
        self.bootstrap, self.group = bootstrap, group
        self.partitions = [TopicPartition(t, p) for t in all_topics(prefix) for p in range(3)]
        self.first: float | None = None
        self.last: float | None = None
        self.total = 0

    async def run(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            while True:
                try:
                    offsets = await admin.list_consumer_group_offsets(self.group, partitions=self.partitions)
                except Exception:  # the group does not exist until the service joins it
                    offsets = {}
                total = sum(max(meta.offset, 0) for meta in offsets.values())
                now = time.perf_counter()
                if total != self.total:
                    self.first = self.first or now
                    self.last, self.total = now, total
                await asyncio.sleep(0.05)  # each poll costs the broker and this process; finer changes nothing
        finally:
            await admin.close()

    def span(self) -> float:
        return 0.0 if self.first is None or self.last is None else self.last - self.first


async def _batches(client: httpx.AsyncClient) -> tuple[float, float]:
    text = (await client.get("/metrics")).text
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("hoinhap_consume_batch"))
    count = float(values.get("hoinhap_consume_batch_duration_seconds_count", 0))
    return count, float(values.get("hoinhap_consume_batch_duration_seconds_sum", 0))


def rss_mib(service: local.ServiceProcess) -> float:
    assert service.process is not None
    process = psutil.Process(service.process.pid)
    rss: int = process.memory_info().rss
    return round(rss / 2**20, 1)


async def naive(bootstrap: str, prefix: str, database_url: str, n: int) -> Figure:
    """The first attempt: one record at a time, one transaction and one ORM write per event."""
    from bench.naive import run_naive

    elapsed, applied = await run_naive(bootstrap, prefix, database_url, n)
    return Figure("naive_eps", round(n / elapsed), "events/s", n, f"{applied} applied")


async def freshness(
    service: local.ServiceProcess,
    token: str,
    bootstrap: str,
    prefix: str,
    background: Sequence[Record],
    rate: int,
    seconds: float,
) -> list[Figure]:
    """Publish time to visible in GET /v1/indicators, under a steady background load of `rate` events/s."""
    from bench.probes import probe_records

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
    await producer.start()
    latencies: list[float] = []
    async with httpx.AsyncClient(
        base_url=service.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        probes = probe_records(prefix)
        started = time.perf_counter()
        sent = 0
        next_probe = started
        try:
            while (now := time.perf_counter()) - started < seconds:
                due = int((now - started) * rate)
                while sent < min(due, len(background)):
                    r = background[sent]
                    await producer.send(r.topic, r.value, key=r.key)
                    sent += 1
                if now >= next_probe:
                    latencies.append(await _probe(client, producer, next(probes)))
                    next_probe = time.perf_counter() + 0.2
                await asyncio.sleep(0.001)
        finally:
            await producer.stop()
    latencies.sort()
    note = f"{len(latencies)} probes at {rate} events/s for {seconds:.0f}s"
    return [
        Figure("freshness_p50_ms", round(_percentile(latencies, 50) * 1000, 1), "ms", sent, note),
        Figure("freshness_p99_ms", round(_percentile(latencies, 99) * 1000, 1), "ms", sent, note),
    ]


async def _probe(client: httpx.AsyncClient, producer: AIOKafkaProducer, probe: tuple[Record, str, str, int]) -> float:
    record, unit, period, expected = probe
    published = time.perf_counter()
    await producer.send_and_wait(record.topic, record.value, key=record.key)
    while True:
        response = await client.get("/v1/indicators", params={"unit": unit, "period": period})
        values = {i["indicator_id"]: i["value"] for i in response.json()["indicators"]}
        if values.get("admissions.methadone", 0) >= expected:
            return time.perf_counter() - published
        await asyncio.sleep(0.002)


class RawClient:
    """HTTP/1.1 over one kept-alive connection, with nothing but what a GET needs: so the benchmark's 50 clients
    cost less than the server they measure (httpx spends more per request than a cached read does)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(f"GET {target} HTTP/1.1\r\n".encode() + self.headers)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


READ_PERIODS = ("2016", "2017-H1", "2018-Q3", "2019-06", "2016/2020", "2016-01/2020-09", "2021", "2022-H2")
READ_INDICATORS = ("admissions.total", "admissions.compulsory", "completions", "relapses", "aftercare_intake")


def _read_target(unit: str, period: str, indicator: str | None) -> str:
    path = "/v1/indicators" if indicator is None else f"/v1/indicators/{indicator}"
    return f"{path}?{urlencode({'unit': unit, 'period': period})}"


async def reads(
    service: local.ServiceProcess, token: str, units: Sequence[str], seconds: float, clients: int = 50
) -> list[Figure]:
    """The read API under `clients` concurrent clients, each sending its next request when the last returns: a
    random mix of the distinct requests for `seconds`, from a cold cache; then every distinct request once, right
    after the cache was emptied (as any commit to the views empties it), which is what a read costs while events
    arrive."""
    distinct = len(units) * len(READ_PERIODS) * (len(READ_INDICATORS) + 1)
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client_loop(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        client = RawClient(service.port, token)
        try:
            while time.perf_counter() < deadline:
                indicator = rng.choice(READ_INDICATORS) if rng.random() < 0.7 else None
                started = time.perf_counter()
                status, _ = await client.get(_read_target(rng.choice(units), rng.choice(READ_PERIODS), indicator))
                latencies.append(time.perf_counter() - started)
                errors += status != 200
        finally:
            client.close()

    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    note = f"{len(latencies)} requests, {len(latencies) / seconds:.0f}/s, {errors} errors, {clients} clients, "
    figures = _percentiles("read", latencies, note + f"{distinct} distinct requests")

    await _views_changed(service)
    targets = [_read_target(u, p, i) for u in units for p in READ_PERIODS for i in (*READ_INDICATORS, None)]
    random.Random(1).shuffle(targets)
    misses: list[float] = []
    errors = 0

    async def cold_loop() -> None:
        nonlocal errors
        client = RawClient(service.port, token)
        try:
            while targets:
                started = time.perf_counter()
                status, _ = await client.get(targets.pop())
                misses.append(time.perf_counter() - started)
                errors += status != 200
        finally:
            client.close()

    started = time.perf_counter()
    await asyncio.gather(*(cold_loop() for _ in range(clients)))
    note = f"each of the {distinct} distinct requests once after a change, {errors} errors, {clients} clients"
    note += f", {len(misses) / (time.perf_counter() - started):.0f}/s"
    return figures + _percentiles("read_miss", misses, note)


def _percentiles(name: str, latencies: list[float], note: str) -> list[Figure]:
    latencies.sort()
    return [
        Figure(f"{name}_p50_ms", round(_percentile(latencies, 50) * 1000, 1), "ms", len(latencies), note),
        Figure(f"{name}_p99_ms", round(_percentile(latencies, 99) * 1000, 1), "ms", len(latencies), note),
    ]


async def _views_changed(service: local.ServiceProcess) -> None:
    """What a commit to the views does: every reporting process empties its cache of rendered reads."""
    conn = await asyncpg.connect(**psql_params(service.env["DATABASE_URL"]))
    try:
        await conn.execute("SELECT pg_notify($1, '')", channel(service.env["HOINHAP_REPORTING_DB_SCHEMA"]))
    finally:
        await conn.close()
    await asyncio.sleep(0.5)  # delivered on commit; give the service a moment to hear it


def rebuild(env: dict[str, str], n: int, log: Path) -> Figure:
    """`hoinhap reporting rebuild` over the topics of `env`'s prefix."""
    started = time.perf_counter()
    with log.open("wb") as out:
        result = subprocess.run(
            [sys.executable, "-m", "hoinhap", "reporting", "rebuild"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        return Figure("rebuild_1m_s", float("nan"), "s", n, f"failed with exit {result.returncode}, see {log}")
    return Figure("rebuild_1m_s", round(elapsed, 1), "s", n, "whole command, start to swap")


def _percentile(sorted_values: Sequence[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    if len(sorted_values) == 1:
        return sorted_values[0]
    return (
        statistics.quantiles(sorted_values, n=100, method="inclusive")[int(pct) - 1] if pct < 100 else sorted_values[-1]
    )
