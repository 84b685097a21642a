"""A seeded case flow that agencies drive over HTTP while faults strike, the events it got accepted, and the check
that afterwards reporting's views equal the oracle recomputed from those events alone.

A request that meets a dead service or a database that is down is retried, as an agency's client would; every
write is idempotent, so a retry answered 200 ("recorded before") means an earlier attempt was accepted."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeAlias, TypeVar

import httpx

from services.reporting.catalogue import COUNTERS
from shared.events import AftercareOpened, Event, Modality, new_event
from tests.builders import a_completion, a_relapse, an_admission, an_employment
from tests.e2e.conftest import Suite, eventually
from tests.e2e.flow import HOAN_KIEM
from tests.e2e.test_skeleton import a_national_id
from tests.reliability import compare, tally
from tests.streams import Oracle

#: Figures of the views, by (what, unit or facility, indicator or modality).
Figures: TypeAlias = dict[Hashable, int]
T = TypeVar("T")

UNITS = (HOAN_KIEM, "01", "VN")
INDICATORS = (*COUNTERS, "persons_admitted", "first_time_entrants")
WRITERS = ("intake", "facility", "aftercare")
#: How long a request is retried while its service restarts or the database is down.
PATIENCE = 240.0


class Unavailable(Exception):
    """The service did not answer within the patience, or answered 5xx other than 503."""


@dataclass
class Episode:
    episode_id: str
    subject: str
    modality: Modality
    admitted_on: date
    completed_on: date | None = None


@dataclass
class Workload:
    """The flow of one test: people admitted into its facility, discharged, then relapsing or supported."""

    suite: Suite
    rng: random.Random
    year: int
    facility: str
    accepted: list[Event] = field(default_factory=list)
    answers: Counter[int] = field(default_factory=Counter)
    retry_after_missing: int = 0
    resident: list[Episode] = field(default_factory=list)
    in_aftercare: list[Episode] = field(default_factory=list)

    async def run(self, stop: asyncio.Event, at_least: int = 0) -> None:
        """Take steps until `stop` is set (and at least `at_least` steps were taken)."""
        steps = 0
        clients = [self.suite.client(name) for name in WRITERS]
        intake, facility, aftercare = clients
        try:
            while not stop.is_set() or steps < at_least:
                action = self.rng.choices(["admit", "discharge", "aftercare"], weights=[3, 2, 2])[0]
                if action == "discharge" and self.resident:
                    await self.discharge(facility)
                elif action == "aftercare" and self.in_aftercare:
                    await self.follow_up(aftercare)
                else:
                    await self.admit(intake)
                steps += 1
                await asyncio.sleep(0.02)
        finally:
            for client in clients:
                await client.aclose()

    def day(self, after: date | None, most: int) -> date:
        start = after or date(self.year, 1, 1)
        return start + timedelta(days=self.rng.randint(1, most))

    def accept(self, event: Event) -> None:
        self.accepted.append(event)
        tally("events_sent")

    async def admit(self, intake: httpx.AsyncClient) -> None:
        person = {"national_id": a_national_id(), "sex": "male", "birth_year": 1990, "residence_unit": HOAN_KIEM}
        subject: str = (await self.post(intake, "/v1/persons", person)).json()["subject"]
        modality = self.rng.choice([Modality.COMPULSORY, Modality.VOLUNTARY_FACILITY])
        body: dict[str, Any] = {
            "subject": subject,
            "modality": modality,
            "admitted_on": self.day(None, 120).isoformat(),
            "unit": HOAN_KIEM,
            "facility_id": self.facility,
            "substances": self.rng.choice([["ats"], ["opioid", "ats"], ["cannabis"]]),
            "legal_basis": "Quyết định 15/2021/QĐ-TA" if modality == Modality.COMPULSORY else None,
        }
        response = await self.post(intake, "/v1/admissions", body)
        episode_id = response.json()["episode_id"]
        admitted = an_admission(**{k: v for k, v in body.items() if k != "subject"}, episode_id=episode_id)
        self.accept(self.event(admitted, subject))
        self.resident.append(Episode(episode_id, subject, modality, date.fromisoformat(body["admitted_on"])))

    async def discharge(self, facility: httpx.AsyncClient) -> None:
        episode = self.resident.pop(self.rng.randrange(len(self.resident)))
        completed_on = self.day(episode.admitted_on, 100)
        body = {
            "completed_on": completed_on.isoformat(),
            "outcome": self.rng.choice(["completed", "completed", "completed", "absconded"]),
            "vocational_training": self.rng.choice([None, "may mặc"]),
            "return_unit": HOAN_KIEM,
        }
        response = await self.post(facility, f"/v1/episodes/{episode.episode_id}/discharge", body, waiting=True)
        if response.status_code == 404:  # the facility has not consumed the admission yet
            self.resident.append(episode)
            return
        self.accept(self.event(a_completion(**body | {"episode_id": episode.episode_id}), episode.subject))
        if body["outcome"] == "completed":  # aftercare takes them into management, and announces it
            opened = AftercareOpened(episode_id=episode.episode_id, opened_on=completed_on, unit=HOAN_KIEM)
            self.accepted.append(self.event(opened, episode.subject))
            episode.completed_on = completed_on
            self.in_aftercare.append(episode)

    async def follow_up(self, aftercare: httpx.AsyncClient) -> None:
        episode = self.in_aftercare.pop(self.rng.randrange(len(self.in_aftercare)))
        assert episode.completed_on is not None
        on = self.day(episode.completed_on, 60)
        fact = {"episode_id": episode.episode_id, "unit": HOAN_KIEM}
        if self.rng.random() < 0.5:
            path, body = "relapse", {"detected_on": on.isoformat()}
            data: Any = a_relapse(**fact, detected_on=on)
        else:
            support = self.rng.choice(["loan", "job_placement"])
            path, body = "employment", {"employed_on": on.isoformat(), "support": support}
            data = an_employment(**fact, employed_on=on, support=support)
        response = await self.post(aftercare, f"/v1/cases/{episode.episode_id}/{path}", body, waiting=True)
        if response.status_code == 404:  # aftercare has not consumed the discharge yet
            self.in_aftercare.append(episode)
            return
        self.accept(self.event(data, episode.subject))

    def event(self, data: Any, subject: str) -> Event:
        return new_event(data, subject=subject, source="/vn/agency/faults", time=datetime.now(UTC))

    async def post(
        self, client: httpx.AsyncClient, path: str, body: dict[str, Any], *, waiting: bool = False
    ) -> httpx.Response:
        """POST until the service answers; 2xx (or 404 when `waiting` for an event to arrive) is returned."""

        async def once() -> httpx.Response:
            response = await client.post(path, json=body)
            self.answers[response.status_code] += 1
            if response.status_code == 503:
                self.retry_after_missing += "retry-after" not in response.headers
                raise Unavailable(response.text)
            ok = response.is_success or (waiting and response.status_code == 404)
            assert ok, (path, response.status_code, response.text)
            return response

        return await self.retrying(once)

    async def retrying(self, request: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                return await request()
            except (httpx.TransportError, Unavailable):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)


# --- after the faults ----------------------------------------------------------------------------------------


async def views(suite: Suite, year: int, facility: str) -> Figures:
    """What reporting answers over HTTP: every counted indicator of the year for the ward, its province and the
    country, and the census of the test's facility at mid-year and at the year's end (a unit's census would count
    the residents other tests left behind)."""
    found: Figures = {}
    async with suite.client("reporting") as reporting:
        for unit in UNITS:
            response = await reporting.get("/v1/indicators", params={"unit": unit, "period": str(year)})
            assert response.status_code == 200, response.text
            for v in response.json()["indicators"]:
                if v["indicator_id"] in INDICATORS and v["value"]:
                    found[("indicator", unit, v["indicator_id"])] = v["value"]
        for on in census_days(year):
            response = await reporting.get("/v1/census", params={"on": on.isoformat(), "facility": facility})
            assert response.status_code == 200, response.text
            for c in response.json()["modalities"]:
                if c["residents"]:
                    found[(f"census {on}", facility, c["modality"])] = c["residents"]
    return found


def census_days(year: int) -> tuple[date, date]:
    return date(year, 6, 30), date(year, 12, 31)


def expected(events: list[Event], year: int, facility: str) -> Figures:
    """The same figures recomputed from the accepted events by the oracle (no SQL, no views)."""
    oracle, first, end = Oracle(events), date(year, 1, 1), date(year, 12, 31)
    found: Figures = {}
    for unit in UNITS:
        values = {i: oracle.counter(i, unit, first, end, None) for i in COUNTERS}
        values |= {
            "persons_admitted": oracle.persons(unit, first, end, None),
            "first_time_entrants": oracle.first_time(unit, first, end, None),
        }
        found |= {("indicator", unit, i): n for i, n in values.items() if n}
    for on in census_days(year):
        found |= {(f"census {on}", facility, m): n for m, n in oracle.facility_census(facility, on, None).items() if n}
    return found


async def check_views(workload: Workload, timeout: float = 240) -> None:
    """Reporting's views equal the oracle (waiting for the consumers to catch up); what differs is tallied as
    lost or counted twice before the assertion."""
    suite, year, facility = workload.suite, workload.year, workload.facility
    oracle = expected(workload.accepted, year, facility)
    found = await eventually(lambda: views(suite, year, facility), oracle, timeout=timeout)
    compare(oracle, found)
    assert found == oracle, {k: (oracle.get(k, 0), found.get(k, 0)) for k in oracle.keys() | found.keys()}


async def unpublished(suite: Suite) -> int:
    rows = [
        await suite.fetch(f"SELECT count(*) AS n FROM {s}.outbox WHERE published_at IS NULL")  # noqa: S608
        for s in (*WRITERS, "reporting")
    ]
    return sum(int(r[0]["n"]) for r in rows)


async def parked(suite: Suite) -> int:
    rows = [await suite.fetch(f"SELECT count(*) AS n FROM {s}.parked_events") for s in WRITERS]  # noqa: S608
    return sum(int(r[0]["n"]) for r in rows)


async def check_drained(suite: Suite) -> None:
    """Every outbox published, nothing left waiting for an event that never came."""
    assert await eventually(lambda: unpublished(suite), 0, timeout=120) == 0
    assert await eventually(lambda: parked(suite), 0, timeout=60) == 0
