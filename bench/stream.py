"""A seeded, realistic stream of contract events: whole episodes, in the mix the seed articles describe."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from vietnam_provinces import Ward

from shared.events import (
    RESIDENTIAL,
    Admitted,
    AftercareOpened,
    Completed,
    Employed,
    Event,
    EventData,
    Modality,
    Outcome,
    Relapsed,
    Sex,
    Substance,
    Support,
    Transferred,
    event_date,
    new_event,
    serialize,
    topic_of,
)

# Admissions by modality, roughly as Đồng Nai 2016-2020 and Hà Nội 2024 report them.
MODALITY_MIX = {
    Modality.COMPULSORY: 0.45,
    Modality.VOLUNTARY_FACILITY: 0.15,
    Modality.VOLUNTARY_COMMUNITY: 0.2,
    Modality.METHADONE: 0.1,
    Modality.TEMPORARY_STAY: 0.07,
    Modality.STATUS_DETERMINATION: 0.03,
}
SUBSTANCES = (["ats"], ["ats", "cannabis"], ["opioid"], ["opioid", "ats"], ["cannabis"], ["other"])
SUBSTANCE_WEIGHTS = (0.5, 0.12, 0.2, 0.08, 0.06, 0.04)  # more than 60% ATS first


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes


def _at(day: date) -> datetime:
    return datetime.combine(day, time(9), UTC)


class Stream:
    """Episodes spread over `years`, each as its events; `duplicate_share` of records are sent twice."""

    def __init__(
        self, seed: int = 42, first_year: int = 2016, years: int = 8, duplicate_share: float = 0.05, wards: int = 300
    ) -> None:
        self.rng = random.Random(seed)
        self.first_year = first_year
        self.days = years * 365
        self.duplicate_share = duplicate_share
        all_wards = sorted(f"{w.code:05d}" for w in Ward.iter_all())
        self.wards = self.rng.sample(all_wards, min(wards, len(all_wards)))
        self.facilities = [f"cs-{i:03d}" for i in range(40)]

    def episode(self) -> list[Event]:
        rng = self.rng
        subject = uuid.UUID(int=rng.getrandbits(128)).hex * 2
        episode = f"ep-{uuid.UUID(int=rng.getrandbits(128)).hex}"
        modality = rng.choices(list(MODALITY_MIX), weights=list(MODALITY_MIX.values()))[0]
        admitted_on = date(self.first_year, 1, 1) + timedelta(days=rng.randrange(self.days))
        ward = rng.choice(self.wards)
        residential = modality in RESIDENTIAL or (modality == Modality.METHADONE and rng.random() < 0.5)
        facility = rng.choice(self.facilities) if residential else None
        data: list[EventData] = [
            Admitted(
                episode_id=episode,
                modality=modality,
                admitted_on=admitted_on,
                unit=ward,
                facility_id=facility,
                sex=rng.choice([Sex.MALE, Sex.MALE, Sex.MALE, Sex.FEMALE]),
                birth_year=rng.randint(1965, 2006),
                substances=[Substance(s) for s in rng.choices(SUBSTANCES, weights=SUBSTANCE_WEIGHTS)[0]],
                legal_basis="QĐ số 12/QĐ-TA" if modality == Modality.COMPULSORY else None,
            )
        ]
        day = admitted_on
        if facility is not None and rng.random() < 0.1:
            day += timedelta(days=rng.randint(10, 200))
            target = rng.choice([f for f in self.facilities if f != facility])
            data.append(
                Transferred(
                    episode_id=episode,
                    transferred_on=day,
                    from_facility_id=facility,
                    to_facility_id=target,
                    reason="điều chuyển",
                )
            )
        if rng.random() < 0.75:
            day += timedelta(days=rng.randint(30, 720))
            outcome = rng.choices(list(Outcome), weights=(0.85, 0.08, 0.06, 0.01))[0]
            trade = rng.choice([None, "may công nghiệp", "cơ khí", "mộc"]) if outcome == Outcome.COMPLETED else None
            data.append(
                Completed(
                    episode_id=episode, completed_on=day, outcome=outcome, vocational_training=trade, return_unit=ward
                )
            )
            if outcome == Outcome.COMPLETED or (outcome != Outcome.DIED and modality == Modality.COMPULSORY):
                data.append(AftercareOpened(episode_id=episode, opened_on=day, unit=ward))
                if rng.random() < 0.25:
                    data.append(
                        Relapsed(episode_id=episode, detected_on=day + timedelta(days=rng.randint(30, 400)), unit=ward)
                    )
                elif rng.random() < 0.35:
                    data.append(
                        Employed(
                            episode_id=episode,
                            employed_on=day + timedelta(days=rng.randint(10, 300)),
                            support=rng.choice(list(Support)),
                            unit=ward,
                        )
                    )
        today = date.today()
        return [
            new_event(d, subject=subject, source="/vn/agency/bench", time=_at(event_date(d)))
            for d in data
            if event_date(d) <= today
        ]

    def records(self, n: int, prefix: str) -> Iterator[Record]:
        """Exactly `n` records, duplicates included, episode after episode."""
        sent = 0
        while sent < n:
            for event in self.episode():
                record = Record(topic_of(event.type, prefix), event.subject.encode(), serialize(event))
                for _ in range(2 if self.rng.random() < self.duplicate_share else 1):
                    if sent == n:
                        return
                    yield record
                    sent += 1
