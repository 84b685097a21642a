"""Published tables: rows for JSON, CSV with English or Vietnamese column labels, and which cells to withhold."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
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


def csv_response(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], lang: str) -> Response:
    """A CSV table; `lang=vi` gives Vietnamese column headers (values stay machine-readable)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([HEADERS[c][1 if lang == "vi" else 0] for c in columns])
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], lang: str, title: str) -> Response:
    """The same table as `csv_response`, as an Excel workbook with one sheet, numbers kept as numbers."""
    out = io.BytesIO()
    with xlsxwriter.Workbook(out, {"in_memory": True}) as book:
        sheet = book.add_worksheet(title[:31])
        bold = book.add_format({"bold": True})
        sheet.write_row(0, 0, [HEADERS[c][1 if lang == "vi" else 0] for c in columns], bold)
        for r, row in enumerate(rows, start=1):
            sheet.write_row(r, 0, ["" if row.get(c) is None else _cell(row.get(c)) for c in columns])
        sheet.autofit()
    filename = f"{title}.xlsx".replace("/", "_")
    return Response(
        out.getvalue(), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def _cell(value: Any) -> Any:
    return value if isinstance(value, int | float | str) else str(value)


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
