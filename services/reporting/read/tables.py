"""Published tables: CSV and XLSX with English or Vietnamese column labels, safe to open in a spreadsheet, and which
cells to withhold."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import xlsxwriter
from fastapi.responses import Response

from services.reporting.catalogue import CATALOGUE, Counts, Kind, groups
from services.reporting.domain import Figure, Group, suppress

#: Column id -> (English, Vietnamese) header, for `lang=vi`.
HEADERS: dict[str, tuple[str, str]] = {
    "indicator_id": ("indicator_id", "Mã chỉ tiêu"),
    "label": ("label", "Chỉ tiêu"),
    "unit": ("unit", "Mã địa bàn"),
    "unit_name": ("unit_name", "Địa bàn"),
    "period": ("period", "Kỳ báo cáo"),
    "value": ("value", "Kết quả thực hiện"),
    "target": ("target", "Chỉ tiêu kế hoạch"),
    "achievement_pct": ("achievement_pct", "Tỷ lệ đạt (%)"),
    "previous_period": ("previous_period", "Kỳ so sánh"),
    "previous_value": ("previous_value", "Kết quả kỳ so sánh"),
    "change": ("change", "Tăng (+) / giảm (-)"),
    "counts": ("counts", "Đơn vị tính"),
    "source_document": ("source_document", "Văn bản giao chỉ tiêu"),
    "as_of": ("as_of", "Số liệu tính đến ngày"),
    "on": ("on", "Ngày"),
    "modality": ("modality", "Hình thức cai nghiện"),
    "residents": ("residents", "Số học viên"),
    "facility_id": ("facility_id", "Cơ sở"),
    "outcome": ("outcome", "Kết quả cai nghiện"),
    "discharges": ("discharges", "Số lượt"),
    "median_days": ("median_days", "Trung vị số ngày cai nghiện"),
    "suppressed": ("suppressed", "Ẩn số nhỏ"),
}


def as_tables(*media_types: str) -> dict[str, Any]:
    """The `responses=` entry of 200 for an endpoint that answers as a table too (`format=csv` or `xlsx`)."""
    return {"content": {m: {"schema": {"type": "string", "format": "binary"}} for m in media_types}}


CSV = "text/csv"
#: Field separators a reader may ask for (`sep=`): Excel where the list separator is `;` (as on Vietnamese Windows)
#: splits only `;`-separated files into columns.
SEPARATORS = {"comma": ",", "semicolon": ";"}
#: What a spreadsheet takes for the start of a formula (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def inert(value: Any) -> Any:
    """A cell a spreadsheet will not run: text that would start a formula gets a leading `'`; numbers stay numbers."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def csv_response(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], lang: str, sep: str = "comma") -> Response:
    """A CSV table in UTF-8 with a BOM (so Excel reads Vietnamese right), separated as `sep` asks; `lang=vi` gives
    Vietnamese column headers (values stay machine-readable)."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, delimiter=SEPARATORS[sep])
    writer.writerow([inert(HEADERS[c][1 if lang == "vi" else 0]) for c in columns])
    for row in rows:
        writer.writerow(["" if row.get(c) is None else inert(row.get(c)) for c in columns])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Columns holding a percentage in every row, and those holding one in a rate's row (`percent` true).
PERCENT_COLUMNS = {"achievement_pct"}
RATE_COLUMNS = {"value", "previous_value", "change"}
#: Format codes: Excel shows `,` as the reader's own thousands separator (`.` on Vietnamese Windows).
FORMATS: dict[str, dict[str, Any]] = {
    "header": {"bold": True},
    "integer": {"num_format": "#,##0"},
    "decimal": {"num_format": "#,##0.00"},
    "percent": {"num_format": "0.00%"},
    "date": {"num_format": "dd/mm/yyyy"},
    "quoted": {"quote_prefix": True},
}


def sheet_name(title: str) -> str:
    """`title` as Excel takes a sheet name: none of `[]:*?/\\`, no `'` at either end, 31 characters at most."""
    name = re.sub(r"[\[\]:*?/\\]", "_", title).strip("'")[:31].strip("'")
    return name or "hoinhap"


def xlsx_response(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], lang: str, title: str) -> Response:
    """The same table as `csv_response`, as an Excel workbook with one sheet: numbers as numbers with formats (rates
    as percentages), dates as dates, text never taken for a formula."""
    out = io.BytesIO()
    options = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    with xlsxwriter.Workbook(out, options) as book:
        formats = {name: book.add_format(spec) for name, spec in FORMATS.items()}
        sheet = book.add_worksheet(sheet_name(title))
        for c, column in enumerate(columns):
            sheet.write_string(0, c, HEADERS[column][1 if lang == "vi" else 0], formats["header"])
        for r, row in enumerate(rows, start=1):
            for c, column in enumerate(columns):
                _write(sheet, r, c, row.get(column), formats, _is_percent(column, row))
        sheet.autofit()
    filename = f"{title}.xlsx".replace("/", "_")
    return Response(
        out.getvalue(), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def _is_percent(column: str, row: Mapping[str, Any]) -> bool:
    return column in PERCENT_COLUMNS or (column in RATE_COLUMNS and bool(row.get("percent")))


def _write(sheet: Any, r: int, c: int, value: Any, formats: Mapping[str, Any], percent: bool) -> None:
    """One cell, as the kind of value it is (xlsxwriter's `write` would take `=...` text for a formula)."""
    if value is None:
        sheet.write_blank(r, c, None)
    elif isinstance(value, bool):
        sheet.write_boolean(r, c, value)
    elif isinstance(value, int | float):
        number = value / 100 if percent else value
        kind = "percent" if percent else "integer" if isinstance(value, int) else "decimal"
        sheet.write_number(r, c, number, formats[kind])
    elif isinstance(value, date):
        sheet.write_datetime(r, c, value, formats["date"])
    else:
        text = str(value)
        sheet.write_string(r, c, text, formats["quoted"] if text.startswith(FORMULA_STARTS) else None)


def withheld_indicators(values: Mapping[str, Figure], threshold: int) -> set[str]:
    """Indicators of one unit and period to withhold: small counts, their complements, and the rates whose
    numerator or denominator is withheld (a rate of two published counts gives nothing away)."""
    counts = {i: int(v) for i, v in values.items() if CATALOGUE[i].counts != Counts.PERCENT and isinstance(v, int)}
    hidden = suppress(counts, groups(), threshold)
    for indicator_id in values:
        indicator = CATALOGUE[indicator_id]
        if indicator.kind == Kind.RATIO and hidden & set(indicator.parts):
            hidden.add(indicator_id)
    return hidden


def withheld_parts(total: str, parts: Mapping[str, int], total_value: int, threshold: int) -> set[str]:
    """Cells of a table of parts under a total (provinces under VN, modalities under all residents)."""
    return suppress({total: total_value, **parts}, [Group(total, tuple(parts))], threshold)
