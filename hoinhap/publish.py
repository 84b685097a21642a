"""`hoinhap publish FILE`: an agency's spreadsheet rows, checked against the contract, published as events.

A row is one record: `subject` plus the `data` fields of one event type, which its date column names
(`admitted_on`, `transferred_on`, `completed_on`, `detected_on` or `employed_on`). A file is an Excel workbook
(`.xlsx`, its first sheet), JSON lines (`.jsonl`, each row an object) or CSV: UTF-8 (with or without a BOM) or
Vietnamese Windows (cp1258), separated by `,` or `;` (whichever the header uses). CSV and Excel write `substances`
as `ats;cannabis` (or `ats,cannabis`) and leave empty cells for absent values. Every row is checked before anything
is sent, ward codes as the services check them; a file with a bad row sends nothing unless asked to skip it. A
row's event id is derived from its content, so publishing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import openpyxl
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
from shared.units import unknown_ward

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


class PublishFileError(Exception):
    """The file cannot be read at all (missing, unreadable, not a workbook); the message says which and why."""


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"


Row = dict[str, Any]
JSON_LINES = {".jsonl", ".ndjson", ".json"}


def read_rows(path: Path) -> Iterator[tuple[int, Row]]:
    """(line number, row) of a CSV file with a header, a JSON-lines file or an Excel workbook (by its extension)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _xlsx_rows(path)
    text = _decoded(path)
    return _json_rows(text) if suffix in JSON_LINES else _csv_rows(text)


def _decoded(path: Path) -> str:
    """The file's text: UTF-8 (a BOM dropped), else cp1258, what Excel on Vietnamese Windows saves as "CSV"."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise PublishFileError(f"{path}: cannot read the file: {error.strerror or error}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:  # cp1258 writes most tones as combining marks: composed here as UTF-8 files write them
        return unicodedata.normalize("NFC", raw.decode("cp1258", errors="replace"))


def _json_rows(text: str) -> Iterator[tuple[int, Row]]:
    for line, row_text in enumerate(text.split("\n"), start=1):  # not splitlines: JSON text may hold U+2028
        if row_text.strip():
            try:
                row = json.loads(row_text)
            except json.JSONDecodeError as error:
                yield line, {"__error__": f"not JSON: {error.msg}"}
                continue
            yield line, row if isinstance(row, dict) else {"__error__": "a row must be a JSON object"}


def _csv_rows(text: str) -> Iterator[tuple[int, Row]]:
    header = next(iter(text.splitlines()), "")
    delimiter = ";" if header.count(";") > header.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            yield reader.line_num, _cleaned(row)
    except csv.Error as error:
        yield reader.line_num, {"__error__": f"not CSV: {error}"}


def _xlsx_rows(path: Path) -> Iterator[tuple[int, Row]]:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except OSError as error:
        raise PublishFileError(f"{path}: cannot read the file: {error.strerror or error}") from None
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise PublishFileError(f"{path}: not an Excel workbook (.xlsx): {error}") from None
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = [str(cell).strip() if cell is not None else "" for cell in next(rows, ())]
        for line, cells in enumerate(rows, start=2):
            if any(cell not in (None, "") for cell in cells):
                yield line, _cleaned({k: _cell(k, v) for k, v in zip(header, cells, strict=False)})
    finally:
        workbook.close()


def _cell(column: str, value: object) -> str | None:
    """An Excel cell as the text a CSV would hold: dates as ISO dates, whole numbers without `.0`, and ward codes
    typed as numbers given back the leading zeros Excel drops (00070, not 70)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and column in WARD_COLUMNS:
        return f"{value:05d}"
    return str(value)


WARD_COLUMNS = frozenset({"unit", "return_unit"})


def _cleaned(row: dict[str, str | None]) -> Row:
    cleaned: Row = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
    for key, value in list(cleaned.items()):
        if value == "":
            cleaned[key] = None
    if isinstance(cleaned.get("substances"), str):
        cleaned["substances"] = [s.strip() for s in re.split("[;,]", cleaned["substances"]) if s.strip()]
    if isinstance(cleaned.get("birth_year"), str) and cleaned["birth_year"].isdigit():
        cleaned["birth_year"] = int(cleaned["birth_year"])
    return cleaned


Problem = tuple[str, str]  # (field, what is wrong)


def to_event(row: Row, source: str, registered: frozenset[str] | None = None) -> Event | list[Problem]:
    """The event a row stands for, or what is wrong with it (field and rule; never the value); its facilities are
    checked against `registered` when given."""
    if "__error__" in row:
        return [("(row)", str(row["__error__"]))]
    kinds = [model for column, model in KINDS.items() if column in row]
    if len(kinds) != 1:
        return [("(row)", f"needs exactly one of the columns {', '.join(KINDS)}; columns read: {', '.join(row)}")]
    subject = row.get("subject")
    errors = []
    if not isinstance(subject, str) or SUBJECT.match(subject) is None:
        errors.append(("subject", "must be the person's pseudonym from intake (POST /v1/persons)"))
    data_fields = {k: v for k, v in row.items() if k != "subject"}
    try:
        data = kinds[0].model_validate_json(json.dumps(data_fields))
    except ValidationError as error:
        errors += [
            (".".join(str(p) for p in e["loc"]) or "(row)", e["msg"])
            for e in error.errors(include_input=False, include_url=False)
        ]
    if errors:
        return errors
    event = new_event(data, subject=str(subject), source=source, time=datetime.now(UTC))
    if (unplaced := unknown_ward(event)) is not None:
        return [_unplaced(*unplaced)]
    if registered is not None and (missing := unregistered(event, registered)):
        return missing
    content = json.dumps({"subject": subject, "data": data.model_dump(mode="json")}, sort_keys=True)
    return event.model_copy(update={"id": str(uuid.uuid5(ROW_NAMESPACE, f"{event.type}|{content}"))})


def _unplaced(reason: str, detail: str) -> Problem:
    """The services' own verdict (`shared.units.unknown_ward`) on a ward code, as a row's problem."""
    field, _, message = detail.partition(": ")
    return field.removeprefix("data."), f"{message}; every service would dead-letter the event as {reason}"


def check(path: Path, source: str, registered: frozenset[str] | None = None) -> tuple[list[Event], list[RowError]]:
    """Every row of the file as an event, or what is wrong with it; PublishFileError when it cannot be read."""
    events: list[Event] = []
    errors: list[RowError] = []
    for line, row in read_rows(path):
        result = to_event(row, source, registered)
        if isinstance(result, list):
            errors += [RowError(str(path), line, field, reason) for field, reason in result]
        else:
            events.append(result)
    return events, errors


def unregistered(event: Event, registered: frozenset[str]) -> list[Problem]:
    """The facilities an event names that are not in the registry: the facility service would hold the event until
    they are registered, then dead-letter it as `unknown_facility`."""
    fields = ("facility_id", "from_facility_id", "to_facility_id")
    named = [(f, v) for f in fields if isinstance(v := getattr(event.data, f, None), str)]
    return [
        (f, "no facility of that id is registered (hoinhap facilities load)") for f, v in named if v not in registered
    ]


def registered_facilities(url: str, token: str) -> frozenset[str]:
    """The ids of the facilities the facility service at `url` has registered."""
    try:
        response = httpx.get(f"{url}/v1/facilities", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    except httpx.HTTPError as error:
        raise PublishFileError(f"{url}: cannot list the registered facilities: {error}") from None
    if response.status_code != 200:
        raise PublishFileError(f"{url}: cannot list the registered facilities: {response.status_code} {response.text}")
    return frozenset(f["facility_id"] for f in response.json())


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
