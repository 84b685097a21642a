"""Loading the facility registry from a file, CSV or JSON, through the facility service's API (`hoinhap facilities
load FILE`): every entry is checked before any is sent, then each is PUT, so loading a file twice changes nothing.

CSV: a header `facility_id,name,unit` then one column per modality a facility may offer (`compulsory`,
`voluntary_facility`, `methadone`, `temporary_stay`, `status_determination`) holding its places; an empty cell
means the facility does not offer it. JSON: a list of `{"facility_id", "name", "unit", "capacity": {modality: n}}`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import httpx
from pydantic import ValidationError

from services.facility.usecases import NewFacilityIn
from shared.events import FacilityModality

MODALITIES: tuple[str, ...] = get_args(FacilityModality)


class RegistryFileError(Exception):
    """The file cannot be loaded; the message lists every problem with its line or entry number."""


@dataclass(frozen=True)
class Loaded:
    registered: int  # new facilities
    replaced: int  # existing ones, changed or not


def read_registry(path: Path) -> list[NewFacilityIn]:
    """Every entry of the file, valid, or RegistryFileError naming each problem."""
    if path.suffix.lower() == ".json":
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, list):
            raise RegistryFileError(f"{path}: a JSON registry is a list of facilities")
        rows = [(f"entry {i}", entry) for i, entry in enumerate(raw, start=1)]
    else:
        rows = _csv_rows(path)
    entries, problems = [], []
    for where, row in rows:
        try:
            entries.append(NewFacilityIn.model_validate(row))
        except ValidationError as error:
            for e in error.errors(include_input=False, include_url=False):
                problems.append(f"{where}: {'.'.join(map(str, e['loc'])) or '(entry)'}: {e['msg']}")
    ids = [e.facility_id for e in entries]
    problems += [f"facility_id {i} appears more than once" for i in sorted({i for i in ids if ids.count(i) > 1})]
    if problems:
        raise RegistryFileError(f"{path}:\n  " + "\n  ".join(problems))
    return entries


def _csv_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        unknown = set(reader.fieldnames or ()) - {"facility_id", "name", "unit", *MODALITIES}
        if unknown:
            raise RegistryFileError(f"{path}: unknown columns {sorted(unknown)}; modalities are {list(MODALITIES)}")
        rows = []
        for row in reader:
            capacity = {m: cell.strip() for m in MODALITIES if (cell := row.get(m) or "").strip()}
            entry = {"facility_id": row.get("facility_id"), "name": row.get("name"), "unit": row.get("unit")}
            rows.append((f"line {reader.line_num}", {**entry, "capacity": capacity}))
        return rows


def load(path: Path, url: str, token: str) -> Loaded:
    """PUT every entry of the file to the facility service at `url`, as the agency `token` speaks for."""
    entries = read_registry(path)
    registered = replaced = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for entry in entries:
            body = entry.model_dump(mode="json", exclude={"facility_id"})
            response = client.put(f"/v1/facilities/{entry.facility_id}", json=body)
            if response.status_code not in (200, 201):
                raise RegistryFileError(f"facility {entry.facility_id}: {response.status_code} {response.text}")
            registered += response.status_code == 201
            replaced += response.status_code == 200
    return Loaded(registered, replaced)
