"""The committed JSON Schemas and AsyncAPI document: in step with the code, and as strict as the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from hoinhap.cli import ASYNCAPI_PATH, CONTRACT_DIR, write_schemas
from shared.events import (
    EVENT_ADAPTER,
    EVENT_MODELS,
    Completed,
    Employed,
    Relapsed,
    Transferred,
    all_topics,
    serialize,
)
from tests.builders import HANOI_WARD, a_completion, an_admission, an_event


def committed(event_type: str) -> Draft202012Validator:
    schema = json.loads((CONTRACT_DIR / f"{event_type}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def samples() -> list[dict[str, Any]]:
    events = [
        an_event(an_admission()),
        an_event(an_admission(modality="voluntary_community", facility_id=None, legal_basis=None)),
        an_event(
            Transferred.model_validate_json(
                '{"episode_id": "e1", "transferred_on": "2024-05-01", "from_facility_id": "f1", "to_facility_id": "f2",'
                ' "reason": "capacity"}'
            )
        ),
        an_event(a_completion(vocational_training="may công nghiệp")),
        an_event(
            Relapsed.model_validate_json(f'{{"episode_id": "e1", "detected_on": "2024-10-01", "unit": "{HANOI_WARD}"}}')
        ),
        an_event(
            Employed.model_validate_json(
                f'{{"episode_id": "e1", "employed_on": "2024-11-01", "support": "loan", "unit": "{HANOI_WARD}"}}'
            )
        ),
    ]
    return [json.loads(serialize(e)) for e in events]


def test_the_committed_documents_are_generated_from_the_code() -> None:
    assert write_schemas(check=True) == 0, "run `hoinhap schemas` and commit the result"


def test_every_event_type_has_a_committed_schema() -> None:
    assert sorted(p.stem for p in CONTRACT_DIR.glob("*.json")) == sorted(EVENT_MODELS)


@pytest.mark.parametrize("document", samples(), ids=lambda d: str(d["type"]))
def test_events_the_code_builds_conform_to_the_committed_schema(document: dict[str, Any]) -> None:
    committed(document["type"]).validate(document)


def _admission_with(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(serialize(an_event(an_admission())))
    for field, value in changes.items():
        if value is ...:
            del document["data"][field]
        else:
            document["data"][field] = value
    return document


@pytest.mark.parametrize(
    "document",
    [
        _admission_with(modality="teleportation"),
        _admission_with(facility_id=...),
        _admission_with(legal_basis=...),
        _admission_with(modality="voluntary_community", legal_basis=None),
        _admission_with(national_id="079123456789"),
        _admission_with(unit="1"),
        _admission_with(substances=[]),
    ],
    ids=[
        "unknown-modality",
        "residential-without-facility",
        "compulsory-without-legal-basis",
        "community-with-facility",
        "extra-field",
        "bad-unit",
        "no-substance",
    ],
)
def test_the_schema_rejects_what_the_model_rejects(document: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        EVENT_ADAPTER.validate_json(json.dumps(document))
    assert not committed(document["type"]).is_valid(document)


def test_a_completion_states_vocational_training_even_when_there_was_none() -> None:
    document = json.loads(serialize(an_event(a_completion())))
    assert document["data"]["vocational_training"] is None
    del document["data"]["vocational_training"]
    assert not committed(document["type"]).is_valid(document)
    with pytest.raises(ValidationError):
        Completed.model_validate(document["data"])


def test_the_asyncapi_document_shows_each_topic_with_its_event_schema() -> None:
    document = json.loads(Path(ASYNCAPI_PATH).read_text())
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(all_topics())
    schemas = document["components"]["schemas"]
    assert {"AdmittedEvent", "TransferredEvent", "CompletedEvent", "RelapsedEvent", "EmployedEvent"} <= set(schemas)
