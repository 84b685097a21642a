"""`hoinhap publish FILE`: an agency's spreadsheet rows, checked against the contract, published as events.

A row is one record: `subject` plus the `data` fields of one event type, which its date column names
(`admitted_on`, `transferred_on`, `completed_on`, `detected_on` or `employed_on`). CSV files write
`substances` as `ats;cannabis` and leave empty cells for absent values; JSON-lines files write each row as an
object. Every row is checked before anything is sent; a file with a bad row sends nothing unless asked to skip
it. A row's event id is derived from its content, so publishing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from shared.events import (
    CONTENT_TYPE,
    Admitted,
    Completed,
    Employed,
    Event,
    EventData,
    Relapsed,
    Transferred,
    new_event,
    serialize,
    topic_of,
)

#: Namespace of the event ids `publish` derives from rows (uuid5).
ROW_NAMESPACE = uuid.UUID("5f0c4d0e-2f6a-4a53-9a53-6a0b7f1f4c11")
KINDS: dict[str, type[EventData]] = {
    "admitted_on": Admitted,
    "transferred_on": Transferred,
    "completed_on": Completed,
    "detected_on": Relapsed,
    "employed_on": Employed,
}
SUBJECT = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of a CSV file with a header, or of a JSON-lines file (by its extension)."""
    with path.open(encoding="utf-8-sig", newline="") as file:
        if path.suffix.lower() in {".jsonl", ".ndjson", ".json"}:
            for line, text in enumerate(file, start=1):
                if text.strip():
                    try:
                        row = json.loads(text)
                    except json.JSONDecodeError as error:
                        yield line, {"__error__": f"not JSON: {error.msg}"}
                        continue
                    yield line, row if isinstance(row, dict) else {"__error__": "a row must be a JSON object"}
        else:
            reader = csv.DictReader(file)
            for row in reader:
                yield reader.line_num, _from_csv(row)


def _from_csv(row: dict[str, str | None]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
    for key, value in list(cleaned.items()):
        if value == "":
            cleaned[key] = None
    if isinstance(cleaned.get("substances"), str):
        cleaned["substances"] = [s.strip() for s in cleaned["substances"].split(";") if s.strip()]
    if isinstance(cleaned.get("birth_year"), str) and cleaned["birth_year"].isdigit():
        cleaned["birth_year"] = int(cleaned["birth_year"])
    return cleaned


def to_event(line: int, row: dict[str, Any], source: str) -> Event | list[RowError]:
    """The event a row stands for, or what is wrong with it (field and rule; never the value)."""
    if "__error__" in row:
        return [RowError(line, "(row)", str(row["__error__"]))]
    kinds = [model for column, model in KINDS.items() if column in row]
    if len(kinds) != 1:
        return [RowError(line, "(row)", f"needs exactly one of the columns {', '.join(KINDS)}")]
    subject = row.get("subject")
    errors = []
    if not isinstance(subject, str) or SUBJECT.match(subject) is None:
        errors.append(RowError(line, "subject", "must be the person's pseudonym from intake (POST /v1/persons)"))
    data_fields = {k: v for k, v in row.items() if k != "subject"}
    try:
        data = kinds[0].model_validate_json(json.dumps(data_fields))
    except ValidationError as error:
        errors += [
            RowError(line, ".".join(str(p) for p in e["loc"]) or "(row)", e["msg"])
            for e in error.errors(include_input=False, include_url=False)
        ]
    if errors:
        return errors
    event = new_event(data, subject=str(subject), source=source, time=datetime.now(UTC))
    content = json.dumps({"subject": subject, "data": data.model_dump(mode="json")}, sort_keys=True)
    return event.model_copy(update={"id": str(uuid.uuid5(ROW_NAMESPACE, f"{event.type}|{content}"))})


def check(path: Path, source: str) -> tuple[list[Event], list[RowError]]:
    events: list[Event] = []
    errors: list[RowError] = []
    for line, row in read_rows(path):
        result = to_event(line, row, source)
        if isinstance(result, list):
            errors += result
        else:
            events.append(result)
    return events, errors


async def send(bootstrap_servers: str, topic_prefix: str, events: list[Event]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        sent = [
            await producer.send(
                topic_of(e.type, topic_prefix),
                serialize(e),
                key=e.subject.encode(),
                headers=[("content-type", CONTENT_TYPE.encode())],
            )
            for e in events
        ]
        for future in sent:
            await future
    finally:
        await producer.stop()
