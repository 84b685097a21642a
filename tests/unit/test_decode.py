"""Turning a consumed record into an event, or into a dead letter with a reason."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from shared.consumer import DECODE_STEP, Consumer, Record, Rejection, decode, readable_headers
from shared.events import Event, serialize
from tests.builders import a_completion, an_admission, an_event


def record(
    value: Event | bytes, topic: str = "p.rehab.admitted", headers: tuple[tuple[str, bytes], ...] = ()
) -> Record:
    raw = value if isinstance(value, bytes) else serialize(value)
    return Record(topic, 0, 7, 0, 0, b"key", raw, None, 3, len(raw), headers)


def rejection(value: Event | bytes, topic: str = "p.rehab.admitted") -> Rejection:
    decoded = decode(record(value, topic), "p.")
    assert isinstance(decoded, Rejection)
    return decoded


def test_a_valid_record_becomes_its_event() -> None:
    event = an_event(an_admission())
    assert decode(record(event), "p.") == event


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        (b"[]", "invalid_event"),
        (b'{"specversion": "1.0"}', "invalid_event"),
        (b" " * 70_000, "oversized"),
    ],
)
def test_records_that_can_never_apply_are_rejected_with_a_reason(value: bytes, reason: str) -> None:
    assert rejection(value).reason == reason


def test_an_event_on_another_type_s_topic_is_rejected() -> None:
    assert rejection(an_event(a_completion())).reason == "wrong_topic"


def test_an_event_dated_in_the_future_is_rejected() -> None:
    assert rejection(an_event(an_admission(admitted_on="2999-01-01"))).reason == "future_date"


def test_the_detail_names_the_field_but_not_the_value() -> None:
    event = serialize(an_event(an_admission())).replace(b'"compulsory"', b'"SECRET-VALUE"')
    detail = rejection(event).detail
    assert "data.modality" in detail and "SECRET-VALUE" not in detail


def test_headers_that_are_not_utf8_are_dropped_so_the_batch_can_be_parsed() -> None:
    ok = record(b"x", headers=(("content-type", b"application/json"),))
    bad = record(b"y", headers=(("content-type", b"text"), ("junk", b"\xff\xfe")))
    cleaned = readable_headers([ok, bad])
    assert cleaned[0] is ok
    assert cleaned[1].headers == (("content-type", b"text"),) and cleaned[1].value == b"y"


async def test_a_batch_is_decoded_in_steps_so_the_writer_is_not_kept_waiting() -> None:
    """The writer's statements are answered between steps: another task runs while a long batch is validated."""
    valid = [record(an_event(an_admission())) for _ in range(5 * DECODE_STEP)]
    consumer = Consumer(cast(Any, None), cast(Any, None), cast(Any, None), cast(Any, None), topic_prefix="p.")
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    before = turns
    decoded = await consumer.decoded([*valid, record(b"{not json")])
    other.cancel()
    assert turns - before >= 5
    assert decoded.size == len(valid) + 1 and len(decoded.events) == len(valid)
    assert [r.reason for r in decoded.rejections] == ["invalid_json"]
