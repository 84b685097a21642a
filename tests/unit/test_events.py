"""The contract's rules, checked on the pydantic models."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from shared.events import (
    EVENT_ADAPTER,
    EVENT_MODELS,
    EVENT_TOPICS,
    RESIDENTIAL,
    TOPICS,
    AdmittedEvent,
    Modality,
    Transferred,
    all_topics,
    parse_event,
    serialize,
    topic_of,
)
from tests.builders import an_admission, an_event


def envelope(**data_overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(serialize(an_event(an_admission())))
    event["data"].update(data_overrides)
    return event


def error_fields(document: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        EVENT_ADAPTER.validate_json(json.dumps(document))
    return [".".join(str(p) for p in e["loc"][1:]) for e in caught.value.errors()]


def test_a_valid_admission_round_trips_through_json() -> None:
    event = an_event(an_admission())
    assert EVENT_ADAPTER.validate_json(serialize(event)) == event


def test_parsed_events_of_the_same_fields_share_one_set_of_them() -> None:
    """A consumer holds thousands of events; the sets of their fields' names were half their memory."""
    first, second = (parse_event(serialize(an_event(an_admission()))) for _ in range(2))
    assert first == EVENT_ADAPTER.validate_json(serialize(first))
    assert first.__pydantic_fields_set__ is second.__pydantic_fields_set__
    assert first.data.__pydantic_fields_set__ is second.data.__pydantic_fields_set__
    assert "dataschema" not in first.model_fields_set  # still the fields it was given
    document = envelope()
    document["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    extended = parse_event(json.dumps(document).encode())
    assert "traceparent" in extended.model_fields_set
    assert "traceparent" not in parse_event(serialize(an_event(an_admission()))).model_fields_set


def test_an_unknown_modality_is_an_error_naming_the_field() -> None:
    assert error_fields(envelope(modality="teleportation")) == ["data.modality"]


@pytest.mark.parametrize("modality", sorted(RESIDENTIAL))
def test_residential_modalities_require_a_facility(modality: str) -> None:
    document = envelope(modality=modality, legal_basis="QĐ 1")
    del document["data"]["facility_id"]
    assert "data.facility_id" in error_fields(document)


def test_compulsory_treatment_requires_a_legal_basis() -> None:
    document = envelope()
    del document["data"]["legal_basis"]
    assert error_fields(document) == ["data.legal_basis"]


def test_community_treatment_takes_no_facility() -> None:
    assert error_fields(envelope(modality="voluntary_community", legal_basis=None)) == ["data.facility_id"]


def test_methadone_may_be_dispensed_with_or_without_a_facility() -> None:
    with_facility = envelope(modality="methadone", legal_basis=None)
    without = envelope(modality="methadone", legal_basis=None, facility_id=None)
    for document in (with_facility, without):
        event = EVENT_ADAPTER.validate_json(json.dumps(document))
        assert isinstance(event, AdmittedEvent)
        assert event.data.modality == Modality.METHADONE


def test_types_are_not_coerced() -> None:
    assert error_fields(envelope(birth_year="1990")) == ["data.birth_year"]


def test_unknown_data_fields_are_rejected() -> None:
    assert error_fields(envelope(name="Nguyễn Văn A")) == ["data.name"]


def test_substances_do_not_repeat() -> None:
    assert error_fields(envelope(substances=["ats", "ats"])) == ["data.substances"]


def test_an_unknown_event_type_is_rejected() -> None:
    document = envelope()
    document["type"] = "vn.rehab.admitted.v9"
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        EVENT_ADAPTER.validate_json(json.dumps(document))


def test_extension_attributes_are_kept_when_their_names_are_valid() -> None:
    document = envelope()
    document["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert EVENT_ADAPTER.validate_json(json.dumps(document)).model_extra == {"traceparent": document["traceparent"]}
    document["Trace-Parent"] = "x"
    with pytest.raises(ValidationError, match="extension attribute name is not 1-20 characters"):
        EVENT_ADAPTER.validate_json(json.dumps(document))


def test_times_must_carry_a_timezone() -> None:
    document = envelope()
    document["time"] = "2024-03-01T08:00:00"
    with pytest.raises(ValidationError, match="time"):
        EVENT_ADAPTER.validate_json(json.dumps(document))


def test_a_transfer_moves_between_two_facilities() -> None:
    with pytest.raises(ValidationError, match="must differ"):
        Transferred.model_validate_json(
            '{"episode_id": "e1", "transferred_on": "2024-01-01", "from_facility_id": "f1",'
            ' "to_facility_id": "f1", "reason": "capacity"}'
        )


def test_every_event_type_has_one_topic_and_the_five_have_one_each() -> None:
    assert set(EVENT_TOPICS) == set(EVENT_MODELS)
    assert len(set(TOPICS.values())) == len(TOPICS) == 5
    assert topic_of("vn.rehab.completed.v1", "t1.") == "t1.rehab.completed"
    assert topic_of("vn.rehab.token_revoked.v1") == "rehab.access"
    assert all_topics("p.") == [
        *(f"p.{t}" for t in TOPICS.values()),
        "p.rehab.aftercare_opened",
        "p.rehab.facility_registered",
        "p.rehab.access",
        "p.rehab.deadletter",
    ]


def test_absent_optional_attributes_are_left_out_not_null() -> None:
    assert "dataschema" not in json.loads(serialize(an_event(an_admission())))
