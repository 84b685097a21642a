"""Every service documents every endpoint: a summary, and each way it may answer, refusals included."""

from __future__ import annotations

from typing import Any

import pytest

from hoinhap.contract import placeholder_app
from hoinhap.local import SERVICES


def operations(service: str) -> list[tuple[str, str, dict[str, Any]]]:
    document = placeholder_app(service).openapi()
    return [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_endpoint_has_a_summary(service: str) -> None:
    for path, method, op in operations(service):
        assert op.get("summary"), f"{service} {method.upper()} {path}"


@pytest.mark.parametrize("service", ["intake", "facility", "aftercare"])
def test_every_case_flow_endpoint_documents_its_refusals(service: str) -> None:
    for path, method, op in operations(service):
        if service not in op.get("tags", ()):
            continue  # the token endpoints every service shares
        where = f"{service} {method.upper()} {path}"
        if op.get("security"):
            assert "401" in op["responses"], where
        if method in {"post", "put"}:
            assert "422" in op["responses"], where
        if method in {"post", "put", "delete"}:
            assert "403" in op["responses"], where


def test_the_case_flow_endpoints_are_documented() -> None:
    documented = {(s, m, p) for s in ("intake", "facility", "aftercare") for p, m, _ in operations(s)}
    assert {
        ("intake", "post", "/v1/persons"),
        ("intake", "post", "/v1/admissions"),
        ("intake", "post", "/v1/episodes/{episode_id}/completion"),
        ("facility", "post", "/v1/facilities"),
        ("facility", "put", "/v1/facilities/{facility_id}"),
        ("facility", "get", "/v1/census"),
        ("facility", "post", "/v1/episodes/{episode_id}/transfer"),
        ("facility", "post", "/v1/episodes/{episode_id}/discharge"),
        ("aftercare", "get", "/v1/cases"),
        ("aftercare", "post", "/v1/cases/{episode_id}/relapse"),
        ("aftercare", "post", "/v1/cases/{episode_id}/employment"),
    } <= documented
