"""SQL injection and path tricks in every query and path parameter: each answers 4xx naming the parameter, never a
server error, never data, and never echoes what was sent."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests import reliability
from tests.e2e.conftest import Suite

pytestmark = pytest.mark.e2e

TRICKS = [
    "VN' OR 1=1--",
    "01' OR '1'='1",
    "01; DROP TABLE reporting.targets; --",
    "' UNION SELECT national_id, NULL FROM intake.persons--",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "01\x00",
    "\x00' OR 1=1",
    "${jndi:ldap://example.invalid/a}",
    "<script>alert(1)</script>",
    "Ω≈ç√∫˜µ≤≥÷ 🦄",
    "9" * 300,
    "A" * 5000,
]
DAY, PERIOD = {"on": "2024-06-01"}, {"period": "2024"}

#: (service, path, the parameter tried, other parameters): `{}` in the path is where a path parameter goes.
PARAMETERS = [
    ("reporting", "/v1/indicators", "unit", PERIOD),
    ("reporting", "/v1/indicators", "period", {"unit": "01"}),
    ("reporting", "/v1/indicators", "as_of", {"unit": "01", **PERIOD}),
    ("reporting", "/v1/indicators", "format", {"unit": "01", **PERIOD}),
    ("reporting", "/v1/indicators", "lang", {"unit": "01", **PERIOD}),
    ("reporting", "/v1/indicators", "suppress", {"unit": "01", **PERIOD}),
    ("reporting", "/v1/indicators/{}", "indicator_id", {"unit": "01", **PERIOD}),
    ("reporting", "/v1/indicators/{}/units", "indicator_id", {"unit": "01", **PERIOD}),
    ("reporting", "/v1/indicators/admissions.total/units", "unit", PERIOD),
    ("reporting", "/v1/census", "unit", DAY),
    ("reporting", "/v1/census", "facility", DAY),
    ("reporting", "/v1/census", "on", {"unit": "01"}),
    ("reporting", "/v1/discharges", "unit", PERIOD),
    ("reporting", "/v1/units", "within", {}),
    ("facility", "/v1/census", "facility_id", DAY),
    ("facility", "/v1/census", "on", {"facility_id": "hn-cs3"}),
    ("facility", "/v1/facilities/{}", "facility_id", {}),
    ("facility", "/v1/episodes/{}", "episode_id", {}),
    ("intake", "/v1/episodes/{}", "episode_id", {}),
    ("aftercare", "/v1/cases", "unit", {}),
    ("aftercare", "/v1/cases", "state", {"unit": "00070"}),
    ("aftercare", "/v1/cases/{}", "episode_id", {}),
    *[(s, "/v1/tokens/{}", "token_id", {}) for s in ("intake", "facility", "aftercare", "reporting")],
]


def echoed(value: str, answer: str) -> bool:
    """Whether the answer gives back what was sent (for long values, any 40 characters of it)."""
    pieces = {value} if len(value) <= 40 else {value[i : i + 40] for i in range(0, len(value) - 40, 40)}
    return any(len(p) > 3 and (p in answer or quote(p, safe="") in answer) for p in pieces)


async def test_tricks_in_parameters_are_refused_naming_the_parameter(secured: Suite) -> None:
    wrong: list[str] = []
    tried = 0
    async with secured.client("intake") as operator:
        revoked_before = sum(t["revoked_at"] is not None for t in (await operator.get("/v1/tokens")).json())
    for service, path, name, others in PARAMETERS:
        for trick in TRICKS:
            async with secured.client(service) as client:
                if "{}" in path:
                    method = "DELETE" if name == "token_id" else "GET"
                    response = await client.request(method, path.replace("{}", quote(trick, safe="")), params=others)
                else:
                    response = await client.get(path, params={**others, name: trick})
            tried += 1
            where = f"{service} {path} {name}={trick[:30]!r}: {response.status_code} {response.text[:160]}"
            route_not_found = response.status_code == 404 and response.json() == {"detail": "Not Found"}
            if not 400 <= response.status_code < 500 or echoed(trick, response.text):
                wrong.append(where)
            elif not route_not_found and name not in response.text:
                wrong.append(f"{where} (does not name {name})")
    reliability.tally("bad_inputs.http", tried)
    assert not wrong, "\n".join(wrong)
    async with secured.client("intake") as operator:
        tokens = (await operator.get("/v1/tokens")).json()
    assert sum(t["revoked_at"] is not None for t in tokens) == revoked_before


async def test_an_unknown_query_parameter_is_refused_not_ignored(secured: Suite) -> None:
    async with secured.client("reporting") as reporting:
        response = await reporting.get("/v1/indicators", params={"unit": "01", **PERIOD, "asof": "2020-01-01"})
    assert response.status_code == 422
    assert "this endpoint takes: as_of, format, lang, period, sep, suppress, unit" in response.text
    assert "asof" not in response.text
    async with httpx.AsyncClient(base_url=secured.url("reporting")) as anonymous:
        assert (await anonymous.get("/v1/indicators", params={"asof": "x"})).status_code == 401


@pytest.mark.parametrize(
    ("service", "method", "path", "body", "field"),
    [
        ("facility", "PUT", "/v1/facilities/f-nul", {"unit": "00070", "capacity": {"compulsory": 1}}, "name"),
        (
            "reporting",
            "PUT",
            "/v1/targets",
            {"indicator_id": "admissions.total", "unit": "01", "period": "2024", "value": 1},
            "source_document",
        ),
        (
            "intake",
            "POST",
            "/v1/admissions",
            {"subject": "a" * 64, "modality": "compulsory", "admitted_on": "2024-01-01", "unit": "00070"}
            | {"facility_id": "hn-cs3", "substances": ["ats"]},
            "legal_basis",
        ),
        (
            "facility",
            "POST",
            "/v1/episodes/ep-1/transfer",
            {"transferred_on": "2024-01-01", "to_facility_id": "x"},
            "reason",
        ),
    ],
)
async def test_a_nul_character_in_free_text_is_a_field_error_not_a_database_error(
    secured: Suite, service: str, method: str, path: str, body: dict[str, object], field: str
) -> None:
    async with secured.client(service) as client:
        response = await client.request(method, path, json={**body, field: "Quyết định\x00 số 1"})
    reliability.tally("bad_inputs.http")
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]
