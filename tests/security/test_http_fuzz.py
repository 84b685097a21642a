"""Schemathesis against every service's OpenAPI document, on the running services, as the national operator (so
requests get past authentication to validation): valid and invalid requests, a bounded number per operation. No
answer may be a server error, and every answer must be one the document declares, in the shape it declares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Err

from hoinhap.local import SERVICES
from tests import reliability
from tests.e2e.conftest import Suite
from tests.security.conftest import DERANDOMIZE

pytestmark = pytest.mark.e2e
Operation: TypeAlias = APIOperation[Any, Any, Any, Any]

#: Requests per operation, valid and invalid together; about 40 operations in all.
EXAMPLES = 100
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


@dataclass
class Findings:
    requests: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # one per operation and check: the first case found

    def add(self, operation: Operation, case: Case[Any], error: FailureGroup | Failure) -> None:
        for failure in error.exceptions if isinstance(error, FailureGroup) else [error]:
            key = f"{operation.method.upper()} {operation.path}: {failure.title}"
            self.failures.setdefault(key, f"{failure.message}\n    {case.as_curl_command()}")


def fuzz(operation: Operation, base_url: str, token: str, findings: Findings) -> None:
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=DERANDOMIZE,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    @given(case=strategy)
    def attempt(case: Case[Any]) -> None:
        findings.requests += 1
        # Set on the case, not passed to the call: schemathesis then knows the request carries a valid token, where
        # it may have drawn a malformed one (a negative case that our token would turn into a valid request).
        headers = CaseInsensitiveDict(case.headers)
        headers["Authorization"] = f"Bearer {token}"
        case.headers = headers
        try:
            case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30)
        except (FailureGroup, Failure) as error:  # schemathesis' failures; collected so one run reports them all
            findings.add(operation, case, error)

    attempt()


@pytest.mark.parametrize("service", SERVICES)
def test_no_request_makes_a_service_fail_or_answer_outside_its_document(secured: Suite, service: str) -> None:
    base_url = secured.url(service)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    findings = Findings()
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the document describes an operation schemathesis cannot read
        fuzz(result.ok(), base_url, secured.token, findings)
    reliability.tally("bad_inputs.http", findings.requests)
    assert not findings.failures, "\n".join(f"{k}\n    {v}" for k, v in sorted(findings.failures.items()))
