"""Administrative units (since 1 July 2025): ward and province codes, and the roll-up ward -> province -> VN."""

from __future__ import annotations

from functools import cache

from vietnam_provinces import Province, Ward

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


def province_of(ward: str) -> str:
    """The province a current ward belongs to; KeyError for a code that is not a current ward."""
    return _province_of_ward()[ward]


def rollup(ward: str) -> tuple[str, str, str]:
    """The units a ward's figures count towards: itself, its province, the country."""
    return ward, province_of(ward), COUNTRY


def contains(unit: str, ward: str) -> bool:
    """Whether `unit` (VN, a province or a ward) contains the ward."""
    return unit in (COUNTRY, ward) or (is_ward(ward) and province_of(ward) == unit)
