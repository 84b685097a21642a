"""`hoinhap publish`'s files as agencies save them: Excel workbooks, CSV in UTF-8 or cp1258 with `,` or `;`; every
problem one line `FILE:LINE: field: message`, and ward codes checked as the services check them."""

from __future__ import annotations

import unicodedata
from datetime import date
from pathlib import Path

import pytest
import xlsxwriter

from hoinhap.cli import main
from hoinhap.publish import check
from shared.events import Admitted
from tests.builders import a_subject

HAI_VAN = "20195"  # Phường Hải Vân, Đà Nẵng
HEADER = ["subject", "episode_id", "modality", "admitted_on", "unit", "facility_id", "sex", "birth_year", "substances"]
HEADER += ["legal_basis", "service_point_id"]
LEGAL_BASIS = "Quyết định 7/2015/QĐ-TA của Tòa án nhân dân"


def a_row(*, unit: str = HAI_VAN, legal: str = LEGAL_BASIS) -> list[str]:
    return [a_subject(), "dn-1", "compulsory", "2015-03-01", unit, "hn-cs3", "male", "1991", "ats;cannabis", legal, ""]


def windows_1258(text: str) -> bytes:
    """`text` as Excel on Vietnamese Windows saves it: a letter cp1258 lacks is its nearest base plus a tone mark."""
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1258")
        except UnicodeEncodeError:
            base, *marks = list(unicodedata.normalize("NFD", char))
            first = unicodedata.normalize("NFC", base + marks[0]) if len(marks) > 1 else base
            rest = marks[1:] if len(marks) > 1 else marks
            out += (first + "".join(rest)).encode("cp1258")
    return bytes(out)


def a_csv(path: Path, rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8") -> Path:
    text = "\n".join(delimiter.join(f'"{cell}"' if delimiter in cell else cell for cell in row) for row in rows)
    path.write_bytes(windows_1258(text + "\n") if encoding == "cp1258" else (text + "\n").encode(encoding))
    return path


def admitted(path: Path) -> list[Admitted]:
    events, errors = check(path, "/vn/agency/test")
    assert [str(e) for e in errors] == []
    return [e.data for e in events if isinstance(e.data, Admitted)]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1258"])
@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_csv_in_any_encoding_and_separator_excel_saves_reads_the_same(
    tmp_path: Path, encoding: str, delimiter: str
) -> None:
    path = a_csv(tmp_path / "rows.csv", [HEADER, a_row(), a_row()], delimiter=delimiter, encoding=encoding)
    first, second = admitted(path)
    assert first.legal_basis == LEGAL_BASIS
    assert [s.value for s in second.substances] == ["ats", "cannabis"]


def test_an_excel_workbook_reads_dates_numbers_and_ward_codes_excel_lost_the_zeros_of(tmp_path: Path) -> None:
    path = tmp_path / "rows.xlsx"
    with xlsxwriter.Workbook(path) as workbook:
        sheet = workbook.add_worksheet("Tiếp nhận")
        sheet.write_row(0, 0, HEADER)
        row = a_row(unit="00070")  # Phường Hoàn Kiếm, typed as the number 70
        sheet.write_row(1, 0, [*row[:3], None, 70, row[5], row[6], 1991, *row[8:]])
        sheet.write_datetime(1, 3, date(2015, 3, 1), workbook.add_format({"num_format": "dd/mm/yyyy"}))
    [data] = admitted(path)
    assert (data.unit, data.admitted_on, data.birth_year, data.legal_basis) == (
        "00070",
        date(2015, 3, 1),
        1991,
        LEGAL_BASIS,
    )


def test_every_problem_is_one_line_naming_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = a_row()
    bad[2], bad[3] = "teleportation", "2015-13-40"
    path = a_csv(tmp_path / "rows.csv", [HEADER, a_row(), bad], delimiter=";", encoding="cp1258")
    with pytest.raises(SystemExit) as exit:
        main(["publish", str(path), "--dry-run"])
    assert exit.value.code == 1
    problems = capsys.readouterr().err.splitlines()[:-1]
    assert [line.split(": ")[:2] for line in problems] == [[f"{path}:3", "modality"], [f"{path}:3", "admitted_on"]]


def test_a_ward_code_no_service_accepts_fails_the_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = a_csv(tmp_path / "rows.csv", [HEADER, a_row(), a_row(unit="99999")])
    with pytest.raises(SystemExit) as exit:
        main(["publish", str(path), "--dry-run"])
    assert exit.value.code == 1
    [problem, _] = capsys.readouterr().err.splitlines()
    assert problem.startswith(f"{path}:3: unit: neither a current nor a pre-July-2025 ward code")
    assert problem.endswith("as unknown_unit")


def test_a_pre_july_2025_ward_code_is_accepted_as_the_services_accept_it(tmp_path: Path) -> None:
    [data] = admitted(a_csv(tmp_path / "rows.csv", [HEADER, a_row(unit="00001")]))  # Phúc Xá, now in Hồng Hà
    assert data.unit == "00001"


@pytest.mark.parametrize("name", ["missing.csv", "missing.xlsx", "."])
def test_a_file_that_cannot_be_read_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["publish", str(tmp_path / name), "--dry-run"])
    assert exit.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{tmp_path / name}: cannot read the file: ")


def test_a_file_named_xlsx_that_is_not_a_workbook_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = a_csv(tmp_path / "rows.xlsx", [HEADER, a_row()])
    with pytest.raises(SystemExit) as exit:
        main(["publish", str(path), "--dry-run"])
    assert exit.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{path}: not an Excel workbook (.xlsx)")
