"""Builders of valid contract data and events, with random ids so tests never collide."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from shared.consumer import Consumer, Record
from shared.events import (
    Admitted,
    Completed,
    Employed,
    Event,
    EventData,
    FacilityRegistered,
    Relapsed,
    Transferred,
    new_event,
)

HANOI_WARD = "00070"  # Phường Hoàn Kiếm, Hà Nội (01)


def a_subject() -> str:
    return secrets.token_hex(32)


def an_episode_id() -> str:
    return f"ep-{uuid.uuid4().hex}"


def an_admission(**overrides: Any) -> Admitted:
    fields: dict[str, Any] = {
        "episode_id": an_episode_id(),
        "modality": "compulsory",
        "admitted_on": date(2024, 3, 1),
        "unit": HANOI_WARD,
        "facility_id": "hn-cs3",
        "sex": "male",
        "birth_year": 1990,
        "substances": ["ats"],
        "legal_basis": "Quyết định 12/QĐ-TA",
    } | overrides
    return Admitted.model_validate_json(json.dumps(fields, default=str))


def a_completion(**overrides: Any) -> Completed:
    fields: dict[str, Any] = {
        "episode_id": an_episode_id(),
        "completed_on": date(2024, 9, 1),
        "outcome": "completed",
        "vocational_training": None,
        "return_unit": HANOI_WARD,
    } | overrides
    return Completed.model_validate_json(json.dumps(fields, default=str))


def an_event(data: EventData, subject: str | None = None, time: datetime | None = None) -> Event:
    return new_event(data, subject=subject or a_subject(), source="/vn/agency/test", time=time)


def a_transfer(**overrides: Any) -> Transferred:
    fields: dict[str, Any] = {
        "episode_id": an_episode_id(),
        "transferred_on": date(2024, 5, 1),
        "from_facility_id": "hn-cs3",
        "to_facility_id": "hn-cs5",
        "reason": "capacity",
    } | overrides
    return Transferred.model_validate_json(json.dumps(fields, default=str))


def a_relapse(**overrides: Any) -> Relapsed:
    fields: dict[str, Any] = {"episode_id": an_episode_id(), "detected_on": date(2024, 11, 1), "unit": HANOI_WARD}
    return Relapsed.model_validate_json(json.dumps(fields | overrides, default=str))


def an_employment(**overrides: Any) -> Employed:
    fields: dict[str, Any] = {
        "episode_id": an_episode_id(),
        "employed_on": date(2024, 10, 1),
        "support": "loan",
        "unit": HANOI_WARD,
    } | overrides
    return Employed.model_validate_json(json.dumps(fields, default=str))


def a_facility(**overrides: Any) -> FacilityRegistered:
    fields: dict[str, Any] = {
        "facility_id": f"f-{uuid.uuid4().hex[:12]}",
        "name": "Cơ sở cai nghiện ma túy số 3 Hà Nội",
        "unit": HANOI_WARD,
        "capacity": {"compulsory": 300, "voluntary_facility": 100},
        "recorded_on": date(2024, 1, 1),
    } | overrides
    return FacilityRegistered.model_validate_json(json.dumps(fields, default=str))


async def handle(consumer: Consumer, records: Sequence[Record]) -> None:
    """Give a consumer one batch of records and write it, as the pipeline does (without its overlap)."""
    await consumer.finish(await consumer.start([await consumer.decoded(records)]))
