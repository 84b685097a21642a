"""The facility registry file: CSV or JSON, every problem named with its line before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hoinhap.facilities import RegistryFileError, read_registry

CSV = """facility_id,name,unit,compulsory,voluntary_facility,methadone,temporary_stay,status_determination
hn-cs3,Cơ sở cai nghiện ma túy số 3 Hà Nội,00070,300,120,,40,
dn-1,"Cơ sở Điều trị nghiện ma túy tỉnh Đồng Nai",26068,500,,80,,
"""


def test_a_csv_registry_gives_places_for_the_modalities_offered(tmp_path: Path) -> None:
    path = tmp_path / "facilities.csv"
    path.write_text(CSV, encoding="utf-8")
    first, second = read_registry(path)
    assert (first.facility_id, first.unit) == ("hn-cs3", "00070")
    assert first.capacity == {"compulsory": 300, "voluntary_facility": 120, "temporary_stay": 40}
    assert second.name == "Cơ sở Điều trị nghiện ma túy tỉnh Đồng Nai"
    assert second.capacity == {"compulsory": 500, "methadone": 80}


def test_a_json_registry_is_a_list_of_entries(tmp_path: Path) -> None:
    path = tmp_path / "facilities.json"
    entry = {"facility_id": "hn-cs3", "name": "Cơ sở số 3", "unit": "00070", "capacity": {"compulsory": 3}}
    path.write_text(json.dumps([entry]))
    [facility] = read_registry(path)
    assert facility.capacity == {"compulsory": 3}


def test_every_problem_is_named_with_its_line_before_anything_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "facilities.csv"
    path.write_text(
        CSV
        + "bad,Cơ sở X,99999,ten,,,,\n"  # neither a current ward nor a number of places
        + "none,Cơ sở Y,00070,,,,,\n"  # offers nothing
        + "hn-cs3,Cơ sở số 3 again,00070,1,,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(RegistryFileError) as raised:
        read_registry(path)
    message = str(raised.value)
    assert "line 4: unit: Value error, is not the code of a current commune/ward" in message
    assert "line 4: capacity.compulsory: Input should be a valid integer" in message
    assert "line 5: capacity: Dictionary should have at least 1 item" in message
    assert "facility_id hn-cs3 appears more than once" in message


def test_community_treatment_is_no_column_of_a_facility(tmp_path: Path) -> None:
    path = tmp_path / "facilities.csv"
    path.write_text("facility_id,name,unit,voluntary_community\nf1,X,00070,3\n")
    with pytest.raises(RegistryFileError, match="unknown columns \\['voluntary_community'\\]"):
        read_registry(path)
