"""`hoinhap demo`: years of realistic activity in three provinces, written through the services' HTTP APIs.

The plan is drawn from a seeded generator before anything is sent, so the same seed gives the same indicator
tables. Volumes and mixes follow the seed articles, scaled down (`--scale`, 1 = the provinces' real volumes):
Đồng Nai 2016-2020 (Kế hoạch số 1009/KH-UBND), Hà Nội 2024 (1.269 compulsory in the first half year), Huế.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from shared import units

# (province, admissions per year at scale 1, facilities (id, name, places per modality))
PROVINCES: dict[str, tuple[int, list[tuple[str, str]]]] = {
    "75": (
        1500,
        [("dn-cstn", "Cơ sở Điều trị nghiện ma túy tỉnh Đồng Nai"), ("dn-cs2", "Cơ sở cai nghiện số 2 Đồng Nai")],
    ),
    "01": (4000, [(f"hn-cs{i}", f"Cơ sở cai nghiện ma túy số {i} Hà Nội") for i in range(1, 8)]),
    "46": (400, [("hue-cs1", "Cơ sở cai nghiện ma túy tỉnh Thừa Thiên Huế")]),
}
MODALITY_MIX = {
    "compulsory": 0.52,
    "voluntary_facility": 0.15,
    "voluntary_community": 0.2,
    "methadone": 0.06,
    "temporary_stay": 0.05,
    "status_determination": 0.02,
}
DAYS_IN_TREATMENT = {  # (shortest, longest) by modality
    "compulsory": (365, 730),
    "voluntary_facility": (90, 180),
    "voluntary_community": (90, 180),
    "methadone": (180, 1500),
    "temporary_stay": (10, 30),
    "status_determination": (3, 5),
}
FACILITY_MODALITIES = ("compulsory", "voluntary_facility", "methadone", "temporary_stay", "status_determination")
TRADES = ["may công nghiệp", "cơ khí", "mộc", "điện dân dụng", "trồng trọt"]
PLANS = [  # (indicator, province, period, target at scale 1, plan)
    ("admissions.voluntary_community", "75", "2016/2020", 750, "Kế hoạch số 1009/KH-UBND"),
    ("admissions.voluntary_facility", "75", "2016/2020", 750, "Kế hoạch số 1009/KH-UBND"),
    ("admissions.compulsory", "75", "2016/2020", 1500, "Kế hoạch số 1009/KH-UBND"),
    ("vocational_trained", "75", "2016/2020", 700, "Kế hoạch số 1009/KH-UBND"),
    ("employment_supported", "75", "2016/2020", 1500, "Kế hoạch số 1009/KH-UBND"),
    ("admissions.compulsory", "01", "2024-H1", 1785, "Kế hoạch cai nghiện ma túy năm 2024 của UBND TP Hà Nội"),
    ("admissions.voluntary", "01", "2024-H1", 1199, "Kế hoạch cai nghiện ma túy năm 2024 của UBND TP Hà Nội"),
    ("admissions.compulsory", "46", "2023", 400, "Kế hoạch số 43/KH-UBND"),
]


@dataclass
class Episode:
    modality: str
    admitted_on: date
    ward: str
    facility: str | None
    service_point: str | None
    substances: list[str]
    ends_on: date | None = None
    outcome: str | None = None
    trade: str | None = None
    transfer: tuple[date, str] | None = None
    relapse_on: date | None = None
    support: tuple[date, str] | None = None


@dataclass
class Person:
    national_id: str
    sex: str
    birth_year: int
    ward: str
    episodes: list[Episode] = field(default_factory=list)


def plan(seed: int, scale: float, first_year: int, today: date) -> list[Person]:
    """Everyone the demo admits, and everything that happens to them until `today`."""
    rng = random.Random(seed)  # noqa: S311 - a repeatable demonstration, not a secret
    people = []
    for province, (per_year, facilities) in PROVINCES.items():
        wards = rng.sample(units.wards_of(province), 12)
        ids = [f for f, _ in facilities]
        for year in range(first_year, today.year + 1):
            for _ in range(max(1, round(per_year * scale))):
                admitted_on = date(year, 1, 1) + timedelta(days=rng.randrange(365))
                if admitted_on > today:
                    continue
                ward = rng.choice(wards)
                person = Person(
                    f"0{rng.randrange(10**10, 10**11)}",
                    rng.choice(["male"] * 9 + ["female"]),
                    rng.randint(1970, 2004),
                    ward,
                )
                first = _episode(rng, admitted_on, ward, ids, today)
                person.episodes.append(first)
                if first.relapse_on is not None and rng.random() < 0.5:
                    readmitted = first.relapse_on + timedelta(days=rng.randint(20, 60))
                    if readmitted <= today:
                        person.episodes.append(_episode(rng, readmitted, ward, ids, today, "compulsory"))
                people.append(person)
    return people


def _episode(
    rng: random.Random, admitted_on: date, ward: str, facilities: list[str], today: date, modality: str | None = None
) -> Episode:
    modality = modality or rng.choices(list(MODALITY_MIX), weights=list(MODALITY_MIX.values()))[0]
    at_facility = modality != "voluntary_community" and not (modality == "methadone" and rng.random() < 0.5)
    primary = rng.choices(["ats", "opioid", "cannabis", "other"], weights=(0.66, 0.22, 0.08, 0.04))[0]
    episode = Episode(
        modality,
        admitted_on,
        ward,
        rng.choice(facilities) if at_facility else None,
        None if at_facility else f"dtv-{ward}",
        [primary, *(["cannabis"] if primary == "ats" and rng.random() < 0.2 else [])],
    )
    ends_on = admitted_on + timedelta(days=rng.randint(*DAYS_IN_TREATMENT[modality]))
    if episode.facility and len(facilities) > 1 and rng.random() < 0.05:
        moved = admitted_on + timedelta(days=rng.randint(1, 20))
        if moved < ends_on and moved <= today:
            episode.transfer = (moved, rng.choice([f for f in facilities if f != episode.facility]))
    if ends_on > today:
        return episode
    episode.ends_on = ends_on
    episode.outcome = rng.choices(["completed", "absconded", "terminated", "died"], weights=(0.86, 0.08, 0.05, 0.01))[0]
    if episode.outcome == "completed" and modality == "compulsory" and rng.random() < 0.2:
        episode.trade = rng.choice(TRADES)
    managed = modality not in ("temporary_stay", "status_determination") and (
        episode.outcome == "completed" or (modality == "compulsory" and episode.outcome == "terminated")
    )
    if managed and rng.random() < 0.22:
        relapse = ends_on + timedelta(days=rng.randint(30, 400))
        episode.relapse_on = relapse if relapse <= today else None
    elif managed and rng.random() < 0.4:
        supported = ends_on + timedelta(days=rng.randint(15, 300))
        if supported <= today:
            episode.support = (supported, rng.choice(["job_placement", "self_employment", "loan"]))
    return episode


class Progress:
    def __init__(self, total: int, label: str) -> None:
        self.total, self.done, self.label, self.started = total, 0, label, time.monotonic()

    def step(self) -> None:
        self.done += 1
        if self.done % 20 == 0 or self.done == self.total:
            filled = int(30 * self.done / self.total)
            rate = self.done / max(time.monotonic() - self.started, 1e-9)
            print(
                f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} ({rate:.0f}/s)",
                end="" if self.done < self.total else "\n",
                file=sys.stderr,
                flush=True,
            )


class Demo:
    """Sends the plan; a request refused only because a service has not yet seen an earlier event is retried."""

    def __init__(self, urls: dict[str, str], token: str, concurrency: int = 16) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self.clients = {
            name: httpx.AsyncClient(base_url=url, headers=headers, timeout=30) for name, url in urls.items()
        }
        self.slots = asyncio.Semaphore(concurrency)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    async def send(
        self, service: str, method: str, path: str, body: dict[str, Any] | None = None, patience: float = 120
    ) -> dict[str, Any]:
        deadline = time.monotonic() + patience
        while True:
            async with self.slots:
                response = await self.clients[service].request(method, path, json=body)
            if response.status_code in (200, 201, 204):
                return response.json() if response.content else {}
            if response.status_code not in (404, 409) or time.monotonic() > deadline:
                raise RuntimeError(f"{service} {method} {path}: {response.status_code} {response.text[:300]}")
            await asyncio.sleep(0.3)

    async def facilities(self) -> None:
        for province, (per_year, facilities) in PROVINCES.items():
            ward = units.wards_of(province)[0]
            for facility_id, name in facilities:
                places = max(100, per_year)  # plenty: a transfer the plan makes is never refused for room
                body = {"name": name, "unit": ward, "capacity": dict.fromkeys(FACILITY_MODALITIES, places)}
                await self.send("facility", "PUT", f"/v1/facilities/{facility_id}", body)

    async def person(self, person: Person) -> None:
        registered = await self.send(
            "intake",
            "POST",
            "/v1/persons",
            {
                "national_id": person.national_id,
                "sex": person.sex,
                "birth_year": person.birth_year,
                "residence_unit": person.ward,
            },
        )
        for episode in person.episodes:
            await self.episode(registered["subject"], episode)

    async def episode(self, subject: str, e: Episode) -> None:
        admission = {
            "subject": subject,
            "modality": e.modality,
            "admitted_on": e.admitted_on.isoformat(),
            "unit": e.ward,
            "substances": e.substances,
            "facility_id": e.facility,
            "service_point_id": e.service_point,
            "legal_basis": "Quyết định của Tòa án nhân dân" if e.modality == "compulsory" else None,
        }
        episode_id = (await self.send("intake", "POST", "/v1/admissions", admission))["episode_id"]
        if e.transfer is not None:
            moved, to = e.transfer
            await self.send(
                "facility",
                "POST",
                f"/v1/episodes/{episode_id}/transfer",
                {"transferred_on": moved.isoformat(), "to_facility_id": to, "reason": "điều chuyển"},
            )
        if e.ends_on is None:
            return
        ending = {
            "completed_on": e.ends_on.isoformat(),
            "outcome": e.outcome,
            "vocational_training": e.trade,
            "return_unit": e.ward,
        }
        if e.facility is not None:
            await self.send("facility", "POST", f"/v1/episodes/{episode_id}/discharge", ending)
        else:
            await self.send("intake", "POST", f"/v1/episodes/{episode_id}/completion", ending)
        if e.relapse_on is not None:
            await self.send(
                "aftercare", "POST", f"/v1/cases/{episode_id}/relapse", {"detected_on": e.relapse_on.isoformat()}
            )
        if e.support is not None:
            await self.send(
                "aftercare",
                "POST",
                f"/v1/cases/{episode_id}/employment",
                {"employed_on": e.support[0].isoformat(), "support": e.support[1]},
            )

    async def targets(self, scale: float) -> None:
        for indicator, unit, period, value, document in PLANS:
            await self.send(
                "reporting",
                "PUT",
                "/v1/targets",
                {
                    "indicator_id": indicator,
                    "unit": unit,
                    "period": period,
                    "value": max(1, round(value * scale)),
                    "source_document": document,
                },
            )


async def _each(items: list[Any], work: Callable[[Any], Awaitable[None]], label: str) -> None:
    progress = Progress(len(items), label)

    async def one(item: Any) -> None:
        await work(item)
        progress.step()

    await asyncio.gather(*(one(item) for item in items))


async def load(urls: dict[str, str], token: str, seed: int, scale: float, first_year: int) -> list[Person]:
    people = plan(seed, scale, first_year, date.today() - timedelta(days=1))
    demo = Demo(urls, token)
    try:
        await demo.facilities()
        await demo.targets(scale)
        await _each(people, demo.person, "demo: people and their treatment")
    finally:
        await demo.close()
    return people


def where_to_look(urls: dict[str, str], token: str) -> str:
    reporting = urls["reporting"]
    return "\n".join(
        [
            "Demonstration data loaded. Where to look:",
            f"  dashboard:  {reporting}/dashboard#token={token}",
            f"  API:        TOKEN={token}",
            f'              curl -H "Authorization: Bearer $TOKEN" "{reporting}/v1/indicators?unit=75&period=2016"',
            f'              curl -H "Authorization: Bearer $TOKEN" "{reporting}/v1/census?unit=01&on=2024-06-14"',
            f"  OpenAPI:    {reporting}/docs (and /docs on every service)",
            "  Đồng Nai (75) 2016/2020 against Kế hoạch số 1009/KH-UBND; Hà Nội (01) 2024-H1; Huế (46) 2023.",
        ]
    )
