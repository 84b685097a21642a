"""Administrative units (since 1 July 2025): ward and province codes, the roll-up ward -> province -> VN, and the
old (pre-July-2025) codes mapped to today's units."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import unicodedata
from contextlib import closing
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from vietnam_provinces import Province, Ward

if TYPE_CHECKING:
    from shared.events import Event

COUNTRY = "VN"


@cache
def _province_of_ward() -> dict[str, str]:
    return {f"{w.code:05d}": f"{int(w.province_code):02d}" for w in Ward.iter_all()}


@cache
def provinces() -> frozenset[str]:
    return frozenset(f"{int(p.code):02d}" for p in Province.iter_all())


def is_ward(code: str) -> bool:
    return code in _province_of_ward()


def is_province(code: str) -> bool:
    return code in provinces()


def exists(code: str) -> bool:
    """Whether `code` is VN, a current province or a current ward."""
    return code == COUNTRY or is_province(code) or is_ward(code)


@cache
def _names() -> dict[str, str]:
    names = {f"{int(p.code):02d}": p.name for p in Province.iter_all()}
    names.update({f"{w.code:05d}": w.name for w in Ward.iter_all()})
    return names | {COUNTRY: "Việt Nam"}


def name(code: str) -> str | None:
    """The official name of VN, a current province or a current ward."""
    return _names().get(code)


def wards_of(province: str) -> list[str]:
    """The current wards of a province, in code order."""
    return list(_wards_by_province().get(province, ()))


@cache
def _wards_by_province() -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for ward, province in sorted(_province_of_ward().items()):
        found.setdefault(province, []).append(ward)
    return {province: tuple(wards) for province, wards in found.items()}


def province_of(ward: str) -> str:
    """The province a current ward belongs to; KeyError for a code that is not a current ward."""
    return _province_of_ward()[ward]


@cache
def rollup(ward: str) -> tuple[str, str, str]:
    """The units a ward's figures count towards: itself, its province, the country."""
    return ward, province_of(ward), COUNTRY


# --- Codes from before 1 July 2025 (63 provinces, wards under districts) --------------------------------------
#
# The correspondence comes from the `vietnamadminunits` package (its legacy register of 10,040 wards with their
# General Statistics Office codes, and its old-to-new conversion table). Its new-ward codes differ from
# `vietnam-provinces` (our reference) for 114 wards, so a new ward is matched to ours by code and name, then by
# name within the province. What cannot be mapped, and how ambiguity is resolved:
# - an old ward split across several new wards goes wholly to the one the package marks as its default (471 such
#   wards); an event carries no street address to place the person more finely;
# - an old code that is also a current ward code is read as the current ward (45 old codes name a different
#   current ward than their successor): codes are read as current first, as intake writes them;
# - the island districts that had no wards (Bạch Long Vĩ, Cồn Cỏ, Hoàng Sa, Lý Sơn, Côn Đảo) have no old ward code.


def _plain(name: str, *, accents: bool) -> str:
    text = unicodedata.normalize("NFD", name.lower()).replace("đ", "d")
    if not accents:
        text = "".join(c for c in text if not unicodedata.combining(c))
    return "".join(c for c in unicodedata.normalize("NFC", text) if c.isalnum())


def _legacy_data() -> Path:
    spec = importlib.util.find_spec("vietnamadminunits")  # located, not imported: its modules pull in geopy
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("vietnamadminunits")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _current_code_of_new_ward(rows: list[tuple[str, str, str]]) -> dict[tuple[str, str], str]:
    """(province key, ward key) of the package's new wards -> our current ward code."""
    wards = {f"{w.code:05d}": w for w in Ward.iter_all()}
    by_name: dict[tuple[str, str], list[str]] = {}
    by_plain_name: dict[tuple[str, str], list[str]] = {}
    for code, w in wards.items():
        province = f"{int(w.province_code):02d}"
        by_name.setdefault((province, _plain(w.name, accents=True)), []).append(code)
        by_plain_name.setdefault((province, _plain(w.name, accents=False)), []).append(code)
    found: dict[tuple[str, str], str] = {}
    for province_key, ward_key, province, name, code in rows:  # type: ignore[misc]
        ours = wards.get(code)
        same = ours is not None and f"{int(ours.province_code):02d}" == province
        if same and ours is not None and _plain(ours.name, accents=True) == _plain(name, accents=True):
            found[(province_key, ward_key)] = code
            continue
        for index, accents in ((by_name, True), (by_plain_name, False)):
            candidates = index.get((province, _plain(name, accents=accents)), [])
            if len(candidates) == 1:
                found[(province_key, ward_key)] = candidates[0]
                break
    return found


@cache
def _legacy() -> tuple[dict[str, str], dict[str, str]]:
    """(old ward code -> current ward code, old province code -> current province code)."""
    data = _legacy_data()
    conversion = json.loads((data / "converter_2025.json").read_text())
    with closing(sqlite3.connect(f"file:{data / 'dataset.db'}?mode=ro", uri=True)) as db:
        new = db.execute("SELECT provinceKey, wardKey, provinceCode, ward, wardCode FROM admin_units").fetchall()
        old = db.execute(
            "SELECT provinceKey, districtKey, wardKey, provinceCode, wardCode FROM admin_units_legacy "
            "WHERE wardCode IS NOT NULL"
        ).fetchall()
    current = _current_code_of_new_ward(new)
    successor: dict[str, tuple[str, str]] = {}
    for new_province, new_wards in conversion["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for new_ward, old_keys in new_wards.items():
            for old_key in old_keys:
                successor[old_key] = (new_province, new_ward)
    for new_province, divided in conversion["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old_key, parts in divided.items():
            default = next(p["newWardKey"] for p in parts if p["isDefaultNewWard"])
            successor.setdefault(old_key, (new_province, default))
    wards: dict[str, str] = {}
    old_provinces: dict[str, str] = {}
    for province_key, district_key, ward_key, province_code, ward_code in old:
        target = successor.get(f"{province_key}_{district_key}_{ward_key}")
        code = current.get(target) if target is not None else None
        if code is not None:
            wards[ward_code] = code
            old_provinces.setdefault(province_code, province_of(code))
    return wards, old_provinces


def legacy_ward(code: str) -> str | None:
    """The current ward an old (pre-July-2025) ward code now lies in, or None when it is not an old code."""
    return _legacy()[0].get(code)


def legacy_province(code: str) -> str | None:
    """The current province an old (63-province) province code was merged into, or None."""
    return _legacy()[1].get(code)


def current_ward(code: str) -> str | None:
    """A ward code as today's ward: itself when current, else its successor when an old code, else None."""
    return code if is_ward(code) else legacy_ward(code)


#: The fields of event data that name a ward.
_WARD_FIELDS = ("unit", "return_unit")


def unknown_ward(event: Event) -> tuple[str, str] | None:
    """`Consumer` check: an event placed in a ward that is neither current nor an old code mapped to a current one
    can never be counted or managed anywhere, so every service dead-letters it as `unknown_unit`."""
    for field in _WARD_FIELDS:
        code = getattr(event.data, field, None)
        if isinstance(code, str) and current_ward(code) is None:
            return "unknown_unit", f"data.{field}: neither a current nor a pre-July-2025 ward code"
    return None
