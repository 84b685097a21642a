"""The four services as separate OS processes against this run's broker and database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from hoinhap import local
from tests.infra import Infra

T = TypeVar("T")


@dataclass
class Suite:
    processes: dict[str, local.ServiceProcess]
    token: str
    infra: Infra

    def url(self, service: str) -> str:
        return self.processes[service].url

    def client(self, service: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url(service), headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )

    def topic(self, name: str) -> str:
        return self.infra.topic_prefix + name


@pytest.fixture(scope="session")
def suite(infra: Infra, service_env: dict[str, str], admin_token: str, artifacts: Path) -> Iterator[Suite]:
    import os

    env = {**os.environ, **service_env}
    logs = artifacts / "e2e-logs"
    logs.mkdir(exist_ok=True)
    processes = {
        name: local.ServiceProcess(name, local.free_port(), env, logs / f"{name}.log").start()
        for name in local.SERVICES
    }
    try:
        for process in processes.values():
            process.wait_ready(timeout=90)
        yield Suite(processes, admin_token, infra)
    finally:
        for process in processes.values():
            process.stop()


@pytest.fixture
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    """A plain producer, for publishing straight to the topics as an outside agency or an attacker would."""
    p = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers, acks="all")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def eventually(probe: Callable[[], Awaitable[T]], expected: T, timeout: float = 30) -> T:
    """Poll `probe` until it returns `expected`; return its last answer (which the caller asserts on)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value == expected or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)
