"""Probe events for the freshness figure: admissions into a cell no other benchmark event touches."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime

from bench.stream import Record
from shared.events import Admitted, Modality, Sex, Substance, new_event, serialize, topic_of

PROBE_WARD = "00004"  # Phường Ba Đình, Hà Nội
PROBE_MONTH = date(2015, 1, 1)  # before the benchmark stream's years


def probe_records(prefix: str) -> Iterator[tuple[Record, str, str, int]]:
    """(record, unit, period, count the cell shows once the record is applied), forever."""
    count = 0
    while True:
        count += 1
        data = Admitted(
            episode_id=f"probe-{secrets.token_hex(8)}",
            modality=Modality.METHADONE,
            admitted_on=PROBE_MONTH,
            unit=PROBE_WARD,
            sex=Sex.MALE,
            birth_year=1990,
            substances=[Substance.OPIOID],
        )
        event = new_event(data, subject=secrets.token_hex(32), source="/vn/agency/bench-probe", time=datetime.now(UTC))
        record = Record(topic_of(event.type, prefix), event.subject.encode(), serialize(event))
        yield record, PROBE_WARD, f"{PROBE_MONTH:%Y-%m}", count
