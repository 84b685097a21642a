"""Who gets in: every route of every service, found from the application itself, refuses a caller without a valid
token (none, forged, expired, revoked, malformed) except the few that carry no data; an agency token reads and
writes only within its jurisdiction, in every service."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from hoinhap.contract import placeholder_app
from hoinhap.local import SERVICES
from shared.access.tokens import mint, signing_key
from tests import reliability
from tests.e2e.conftest import Suite, eventually
from tests.e2e.flow import BIEN_HOA, HOAN_KIEM, admitted, case, discharge, new_facility, register, resident

pytestmark = pytest.mark.e2e

#: The routes anyone may call, and why: liveness and readiness probes and Prometheus' scrape; the dashboard page
#: and its script, static files that ask the reader for a token; and the API's own description. None of them holds
#: data.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/dashboard"),
    ("GET", "/dashboard.js"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}


def routes(service: str) -> Iterator[tuple[str, str]]:
    """Every (method, path) the service's application answers, documented or not."""
    app = placeholder_app(service)
    for route in iter_route_contexts(app.routes):
        for method in sorted(set(route.methods or ()) - {"HEAD", "OPTIONS"}):
            yield method, str(route.path)


def filled(path: str) -> str:
    """The path with every parameter given a well-formed value, so only the credentials can be wrong."""
    for name in ("episode_id", "facility_id", "indicator_id", "token_id"):
        path = path.replace("{" + name + "}", "x1" if name != "token_id" else "0" * 32)
    return path


def test_the_routes_are_found() -> None:
    found = {(s, m, p) for s in SERVICES for m, p in routes(s)}
    assert ("reporting", "GET", "/v1/indicators") in found
    assert ("facility", "POST", "/v1/episodes/{episode_id}/discharge") in found
    assert ("intake", "DELETE", "/v1/tokens/{token_id}") in found
    assert len(found) > 50


async def bad_credentials(suite: Suite) -> dict[str, dict[str, str]]:
    """Authorization headers that must not get in, by what is wrong with them."""
    key = signing_key(suite.token)
    now = datetime.now(UTC)
    expired, _ = mint(key, "hanoi-dolisa", ["01"], now - timedelta(seconds=1))
    forged, _ = mint(signing_key(secrets.token_urlsafe(24)), "hanoi-dolisa", ["VN"], now + timedelta(days=1))
    async with suite.client("intake") as operator:
        issued = (await operator.post("/v1/tokens", json={"agency": "revoked-agency", "units": ["VN"]})).json()
        assert (await operator.delete(f"/v1/tokens/{issued['token_id']}")).status_code == 204
    tampered = issued["token"][:-2] + ("AA" if not issued["token"].endswith("AA") else "BB")
    return {
        "none": {},
        "expired": {"Authorization": f"Bearer {expired}"},
        "forged": {"Authorization": f"Bearer {forged}"},
        "revoked": {"Authorization": f"Bearer {issued['token']}"},
        "tampered": {"Authorization": f"Bearer {tampered}"},
        "malformed": {"Authorization": "Bearer hn1.e30.x"},
        "operator token with a suffix": {"Authorization": f"Bearer {suite.token}x"},
        "not bearer": {"Authorization": f"Basic {suite.token}"},
    }


async def answers(suite: Suite, service: str, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=suite.url(service), headers=headers, timeout=30) as client:
        body: Any = {} if method in {"POST", "PUT"} else None
        return await client.request(method, filled(path), json=body)


async def test_every_route_but_probes_metrics_and_pages_refuses_a_caller_without_a_valid_token(secured: Suite) -> None:
    credentials = await bad_credentials(secured)
    refused: list[str] = []
    let_in: list[str] = []
    for service in SERVICES:
        for method, path in routes(service):
            for what, headers in credentials.items():
                if what == "revoked":  # a revocation reaches the other services over Kafka, within seconds

                    async def status(service: str = service, method: str = method, path: str = path) -> int:
                        return (await answers(secured, service, method, path, credentials["revoked"])).status_code

                    if (method, path) not in PUBLIC:
                        await eventually(status, 401, timeout=30)
                response = await answers(secured, service, method, path, headers)
                where = f"{service} {method} {path} ({what}): {response.status_code}"
                if (method, path) in PUBLIC:
                    assert response.status_code == 200, where
                elif response.status_code == 401 and response.headers.get("www-authenticate") == "Bearer":
                    refused.append(where)
                else:
                    let_in.append(where)
    reliability.tally("denied.unauthenticated", len(refused))
    assert not let_in, "\n".join(let_in)
    assert len(refused) > 30 * len(credentials)  # 36 routes take a token


async def test_an_agency_token_is_confined_to_its_jurisdiction_in_every_service(secured: Suite) -> None:
    # As the operator: a facility, a person, an episode and an aftercare case in Đồng Nai (75).
    dong_nai_facility = await new_facility(secured, BIEN_HOA, compulsory=10)
    async with secured.client("intake") as intake, secured.client("facility") as facility:
        subject = await register(intake, BIEN_HOA)
        episode = await admitted(intake, subject, "2024-02-01", dong_nai_facility, unit=BIEN_HOA)
        await resident(secured, episode)
        assert (await discharge(facility, episode, "2024-08-01", return_unit=BIEN_HOA)).status_code == 201
        reliability.tally("events_sent", 2)
        issued = (await intake.post("/v1/tokens", json={"agency": "hanoi-dolisa", "units": ["01"]})).json()
    await case(secured, episode)

    hanoi = {"Authorization": f"Bearer {issued['token']}"}
    day, period = {"on": "2024-06-01"}, {"period": "2024"}
    outside: list[tuple[str, str, str, dict[str, Any] | None, dict[str, str] | None]] = [
        ("intake", "POST", "/v1/persons", None, None),
        ("intake", "POST", "/v1/admissions", None, None),
        ("intake", "GET", f"/v1/episodes/{episode}", None, None),
        ("intake", "POST", f"/v1/episodes/{episode}/completion", None, None),
        ("facility", "POST", "/v1/facilities", None, None),
        ("facility", "PUT", f"/v1/facilities/{dong_nai_facility}", None, None),  # moving it to Hà Nội
        (
            "facility",
            "PUT",
            "/v1/facilities/dn-new",
            {"name": "x", "unit": BIEN_HOA, "capacity": {"compulsory": 1}},
            None,
        ),
        ("facility", "GET", "/v1/census", None, {"facility_id": dong_nai_facility, **day}),
        ("facility", "GET", f"/v1/episodes/{episode}", None, None),
        ("facility", "POST", f"/v1/episodes/{episode}/transfer", None, None),
        ("facility", "POST", f"/v1/episodes/{episode}/discharge", None, None),
        ("aftercare", "GET", "/v1/cases", None, {"unit": BIEN_HOA}),
        ("aftercare", "GET", f"/v1/cases/{episode}", None, None),
        ("aftercare", "POST", f"/v1/cases/{episode}/relapse", None, None),
        ("aftercare", "POST", f"/v1/cases/{episode}/employment", None, None),
        *[("reporting", "GET", "/v1/indicators", None, {"unit": u, **period}) for u in ("75", "VN", BIEN_HOA)],
        ("reporting", "GET", "/v1/indicators/admissions.total", None, {"unit": "75", **period}),
        ("reporting", "GET", "/v1/indicators/admissions.total/units", None, {"unit": "VN", **period}),
        ("reporting", "GET", "/v1/census", None, {"unit": "75", **day}),
        ("reporting", "GET", "/v1/discharges", None, {"unit": BIEN_HOA, **period}),
        ("reporting", "GET", "/v1/units", None, {"within": "75"}),
        ("reporting", "PUT", "/v1/targets", None, None),
        *[(s, "GET", "/v1/tokens", None, None) for s in SERVICES],
        *[(s, "POST", "/v1/tokens", {"agency": "hanoi-dolisa", "units": ["VN"]}, None) for s in SERVICES],
        *[(s, "DELETE", f"/v1/tokens/{issued['token_id']}", None, None) for s in SERVICES],
    ]
    bodies: dict[str, dict[str, Any]] = {
        "/v1/persons": {"national_id": "0" * 12, "sex": "male", "birth_year": 1990, "residence_unit": BIEN_HOA},
        "/v1/admissions": {
            "subject": subject,
            "modality": "voluntary_community",
            "admitted_on": "2024-09-01",
            "unit": BIEN_HOA,
            "service_point_id": "sp-1",
            "substances": ["ats"],
        },
        "/completion": {"completed_on": "2024-09-01", "outcome": "completed", "return_unit": HOAN_KIEM},
        "/v1/facilities": {"facility_id": "dn-2", "name": "x", "unit": BIEN_HOA, "capacity": {"compulsory": 1}},
        "/v1/facilities/": {"name": "x", "unit": HOAN_KIEM, "capacity": {"compulsory": 1}},
        "/transfer": {"transferred_on": "2024-03-01", "to_facility_id": "hn-cs3", "reason": "closer to home"},
        "/discharge": {"completed_on": "2024-09-01", "outcome": "completed", "return_unit": HOAN_KIEM},
        "/relapse": {"detected_on": "2024-10-01"},
        "/employment": {"employed_on": "2024-10-01", "support": "loan"},
        "/v1/targets": {
            "indicator_id": "admissions.total",
            "unit": "75",
            "period": "2024",
            "value": 1,
            "source_document": "x",
        },
    }

    def body_for(path: str) -> dict[str, Any]:
        return next(
            b for suffix, b in bodies.items() if path.endswith(suffix) or (suffix.endswith("/") and suffix in path)
        )

    let_through = []
    async with httpx.AsyncClient(headers=hanoi, timeout=30) as client:
        for service, method, path, body, params in outside:
            if method in {"POST", "PUT"} and body is None:
                body = body_for(path)
            response = await client.request(method, secured.url(service) + path, json=body, params=params)
            if response.status_code == 403:
                reliability.tally("denied.cross_jurisdiction")
                assert subject not in response.text and episode not in response.text
            else:
                let_through.append(f"{service} {method} {path}: {response.status_code} {response.text[:200]}")
        # Within its jurisdiction the same token reads; a facility's census counts only the residents it manages.
        mine = await client.get(secured.url("reporting") + "/v1/indicators", params={"unit": "01", **period})
        census = await client.get(
            secured.url("reporting") + "/v1/census", params={"facility": dong_nai_facility, **day}
        )
    assert not let_through, "\n".join(let_through)
    assert mine.status_code == 200
    assert (census.status_code, census.json()["total"]) == (200, 0)
