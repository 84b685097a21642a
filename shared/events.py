"""The public event contract: CloudEvents 1.0 envelopes, the five `data` types and their topics."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict, JsonValue

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
DEADLETTER_TOPIC = "rehab.deadletter"


class Modality(StrEnum):
    """Treatment modality (hình thức cai nghiện)."""

    COMPULSORY = "compulsory"
    VOLUNTARY_FACILITY = "voluntary_facility"
    VOLUNTARY_COMMUNITY = "voluntary_community"
    METHADONE = "methadone"
    TEMPORARY_STAY = "temporary_stay"
    STATUS_DETERMINATION = "status_determination"


#: Modalities that take place inside a treatment facility, so an admission must name one.
RESIDENTIAL = frozenset(
    {
        Modality.COMPULSORY,
        Modality.VOLUNTARY_FACILITY,
        Modality.TEMPORARY_STAY,
        Modality.STATUS_DETERMINATION,
    }
)


#: Modalities a facility may offer: the residential ones, and methadone dispensed at a facility.
FacilityModality = Literal["compulsory", "voluntary_facility", "methadone", "temporary_stay", "status_determination"]


class Substance(StrEnum):
    ATS = "ats"
    OPIOID = "opioid"
    CANNABIS = "cannabis"
    OTHER = "other"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class Outcome(StrEnum):
    COMPLETED = "completed"
    ABSCONDED = "absconded"
    TERMINATED = "terminated"
    DIED = "died"


class Support(StrEnum):
    JOB_PLACEMENT = "job_placement"
    SELF_EMPLOYMENT = "self_employment"
    LOAN = "loan"


#: What an id (episode, facility, service point) may be written as, wherever one is taken.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
Identifier = Annotated[str, Field(pattern=ID_PATTERN, description="Opaque identifier, 1-64 characters.")]
WardCode = Annotated[
    str,
    Field(
        pattern=r"^\d{5}$",
        description="Commune/ward code as the General Statistics Office writes it (five digits).",
    ),
]


#: PostgreSQL cannot store NUL in text: an event carrying one could never be recorded, and its batch would fail and
#: be delivered again for ever. Every free-text field refuses it with this pattern (checked inside pydantic's core,
#: with no Python called per field), so such an event is dead-lettered as invalid_event; the other strings have
#: patterns or values of their own.
WITHOUT_NUL = r"^[^\x00]*$"


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def _when_modality(modalities: list[JsonValue], then: JsonDict) -> JsonDict:
    return {"if": {"required": ["modality"], "properties": {"modality": {"enum": modalities}}}, "then": then}


class Admitted(_Data):
    """A person was admitted into a treatment modality (tiếp nhận, đưa vào cai nghiện)."""

    # The cross-field rules the validators below enforce, stated in the JSON Schema too.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                _when_modality(
                    [m.value for m in sorted(RESIDENTIAL)],
                    {"required": ["facility_id"], "properties": {"facility_id": {"type": "string"}}},
                ),
                _when_modality(
                    ["compulsory"],
                    {"required": ["legal_basis"], "properties": {"legal_basis": {"type": "string"}}},
                ),
                _when_modality(["voluntary_community"], {"properties": {"facility_id": {"type": "null"}}}),
            ]
        }
    )

    episode_id: Identifier = Field(description="The treatment episode this admission opens.")
    modality: Modality = Field(description="Treatment modality.")
    admitted_on: date = Field(description="Date of admission.")
    unit: WardCode = Field(description="The commune/ward that manages the person.")
    facility_id: Identifier | None = Field(
        default=None,
        validate_default=True,
        description="Treatment facility; required for residential modalities, absent for community treatment.",
    )
    sex: Sex = Field(description="Sex of the person.")
    birth_year: int = Field(ge=1900, le=2100, description="Year of birth.")
    substances: list[Substance] = Field(
        min_length=1, max_length=4, description="Substances used, the primary substance first."
    )
    legal_basis: str | None = Field(
        default=None,
        validate_default=True,
        min_length=1,
        max_length=200,
        pattern=WITHOUT_NUL,
        description="Reference of the decision the admission rests on; required for compulsory treatment.",
    )
    service_point_id: Identifier | None = Field(
        default=None, description="Commune service point, for treatment in the community."
    )
    previous_episode_id: Identifier | None = Field(
        default=None, description="The earlier episode this re-admission follows (after a relapse)."
    )

    @field_validator("substances")
    @classmethod
    def _distinct(cls, substances: list[Substance]) -> list[Substance]:
        if len(set(substances)) != len(substances):
            raise ValueError("substances must not repeat")
        return substances

    @field_validator("facility_id")
    @classmethod
    def _facility_matches_modality(cls, facility_id: str | None, info: ValidationInfo) -> str | None:
        modality = info.data.get("modality")
        if modality in RESIDENTIAL and facility_id is None:
            raise ValueError(f"facility_id is required for residential modality {modality}")
        if modality == Modality.VOLUNTARY_COMMUNITY and facility_id is not None:
            raise ValueError("voluntary_community treatment takes place in the community, not a facility")
        return facility_id

    @field_validator("legal_basis")
    @classmethod
    def _legal_basis_for_compulsory(cls, legal_basis: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("modality") == Modality.COMPULSORY and legal_basis is None:
            raise ValueError("legal_basis is required for compulsory treatment")
        return legal_basis


class Transferred(_Data):
    """A resident was moved to another facility (chuyển cơ sở)."""

    episode_id: Identifier = Field(description="The treatment episode.")
    transferred_on: date = Field(description="Date of the transfer.")
    from_facility_id: Identifier = Field(description="Facility the resident leaves.")
    to_facility_id: Identifier = Field(description="Facility the resident enters.")
    reason: str = Field(min_length=1, max_length=200, pattern=WITHOUT_NUL, description="Why the resident was moved.")

    @model_validator(mode="after")
    def _different_facilities(self) -> Transferred:
        if self.from_facility_id == self.to_facility_id:
            raise ValueError("to_facility_id must differ from from_facility_id")
        return self


class Completed(_Data):
    """Treatment ended (hoàn thành / chấm dứt cai nghiện), with its outcome."""

    episode_id: Identifier = Field(description="The treatment episode that ended.")
    completed_on: date = Field(description="Date treatment ended.")
    outcome: Outcome = Field(description="How treatment ended.")
    vocational_training: str | None = Field(
        min_length=1, max_length=120, pattern=WITHOUT_NUL, description="Trade learned during treatment, or null."
    )
    return_unit: WardCode = Field(description="The commune/ward the person returns to.")


class Relapsed(_Data):
    """A relapse was detected during post-treatment management (tái nghiện)."""

    episode_id: Identifier = Field(description="The treatment episode the relapse follows.")
    detected_on: date = Field(description="Date the relapse was detected.")
    unit: WardCode = Field(description="The commune/ward managing the person.")


class Employed(_Data):
    """Employment or loan support after treatment (hỗ trợ vốn, tạo việc làm)."""

    episode_id: Identifier = Field(description="The treatment episode the support follows.")
    employed_on: date = Field(description="Date the support was given.")
    support: Support = Field(description="Kind of support.")
    unit: WardCode = Field(description="The commune/ward managing the person.")


_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")


class _Envelope(BaseModel):
    """CloudEvents 1.0, structured content mode; extension attributes are kept as they come."""

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)

    specversion: Literal["1.0"] = Field(description="CloudEvents version.")
    id: str = Field(
        min_length=1, max_length=128, pattern=WITHOUT_NUL, description="Unique event id; the deduplication key."
    )
    source: str = Field(
        pattern=r"^/[A-Za-z0-9/._-]{1,199}$",
        description="The publishing agency, e.g. /vn/agency/dongnai-dolisa.",
    )
    subject: str = Field(
        pattern=r"^[A-Za-z0-9_-]{16,128}$", description="Pseudonymous person id (keyed hash); the record key."
    )
    time: AwareDatetime = Field(description="When the event happened (RFC 3339).")
    datacontenttype: Literal["application/json"] = Field(description="Media type of data.")
    dataschema: str | None = Field(
        default=None, max_length=200, pattern=WITHOUT_NUL, description="Optional schema URI of data."
    )

    @model_validator(mode="after")
    def _extension_names(self) -> _Envelope:
        for name in self.model_extra or {}:
            if not _EXTENSION_NAME.match(name):
                raise ValueError("an extension attribute name is not 1-20 characters a-z, 0-9 (CloudEvents)")
        return self


class AdmittedEvent(_Envelope):
    type: Literal["vn.rehab.admitted.v1"] = Field(description="Event type.")
    data: Admitted


class TransferredEvent(_Envelope):
    type: Literal["vn.rehab.transferred.v1"] = Field(description="Event type.")
    data: Transferred


class CompletedEvent(_Envelope):
    type: Literal["vn.rehab.completed.v1"] = Field(description="Event type.")
    data: Completed


class RelapsedEvent(_Envelope):
    type: Literal["vn.rehab.relapsed.v1"] = Field(description="Event type.")
    data: Relapsed


class EmployedEvent(_Envelope):
    type: Literal["vn.rehab.employed.v1"] = Field(description="Event type.")
    data: Employed


class AftercareOpened(_Data):
    """A person was taken into post-treatment management at their place of residence (tiếp nhận quản lý sau
    cai nghiện). Not one of the five: aftercare publishes it so reporting can count `aftercare_intake`."""

    episode_id: Identifier = Field(description="The treatment episode the management follows.")
    opened_on: date = Field(description="Date management began.")
    unit: WardCode = Field(description="The commune/ward that manages the person.")


class FacilityRegistered(_Data):
    """A treatment facility was registered, or its entry changed (cơ sở cai nghiện ma túy). Not one of the five:
    facility publishes it so intake knows which facilities offer which modality."""

    facility_id: Identifier = Field(description="The facility.")
    name: str = Field(min_length=1, max_length=200, pattern=WITHOUT_NUL, description="Official name of the facility.")
    unit: WardCode = Field(description="The commune/ward the facility is in.")
    capacity: dict[FacilityModality, Annotated[int, Field(ge=0, le=100_000)]] = Field(
        min_length=1, description="Places per modality offered; the modalities the facility offers are its keys."
    )
    recorded_on: date = Field(description="Date the entry was registered or last changed.")


class TokenIssued(_Data):
    """An agency token was issued; only its hash travels. Suite-internal, signed by the issuing service."""

    token_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="Identifier of the token.")
    agency: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="The agency the token speaks for.")
    units: list[Annotated[str, Field(pattern=r"^(VN|\d{2}|\d{5})$")]] = Field(
        min_length=1, max_length=100, description="Jurisdiction: VN, province or ward codes."
    )
    issued_at: AwareDatetime = Field(description="When the token was issued.")
    expires_at: AwareDatetime = Field(description="When the token stops working.")
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the token.")
    signature: str = Field(pattern=r"^[0-9a-f]{64}$", description="HMAC of the other fields by the suite's key.")


class TokenRevoked(_Data):
    """An agency token was revoked. Suite-internal, signed by the revoking service."""

    token_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="Identifier of the token.")
    revoked_at: AwareDatetime = Field(description="When the token was revoked.")
    signature: str = Field(pattern=r"^[0-9a-f]{64}$", description="HMAC of the other fields by the suite's key.")


class AftercareOpenedEvent(_Envelope):
    type: Literal["vn.rehab.aftercare_opened.v1"] = Field(description="Event type.")
    data: AftercareOpened


class FacilityRegisteredEvent(_Envelope):
    type: Literal["vn.rehab.facility_registered.v1"] = Field(description="Event type.")
    data: FacilityRegistered


class TokenIssuedEvent(_Envelope):
    type: Literal["vn.rehab.token_issued.v1"] = Field(description="Event type.")
    data: TokenIssued


class TokenRevokedEvent(_Envelope):
    type: Literal["vn.rehab.token_revoked.v1"] = Field(description="Event type.")
    data: TokenRevoked


Event = (
    AdmittedEvent
    | TransferredEvent
    | CompletedEvent
    | RelapsedEvent
    | EmployedEvent
    | AftercareOpenedEvent
    | FacilityRegisteredEvent
    | TokenIssuedEvent
    | TokenRevokedEvent
)
EventData = (
    Admitted
    | Transferred
    | Completed
    | Relapsed
    | Employed
    | AftercareOpened
    | FacilityRegistered
    | TokenIssued
    | TokenRevoked
)

#: The one place that maps an event type to its model and topic.
EVENT_MODELS: dict[str, type[Event]] = {
    "vn.rehab.admitted.v1": AdmittedEvent,
    "vn.rehab.transferred.v1": TransferredEvent,
    "vn.rehab.completed.v1": CompletedEvent,
    "vn.rehab.relapsed.v1": RelapsedEvent,
    "vn.rehab.employed.v1": EmployedEvent,
    "vn.rehab.aftercare_opened.v1": AftercareOpenedEvent,
    "vn.rehab.facility_registered.v1": FacilityRegisteredEvent,
    "vn.rehab.token_issued.v1": TokenIssuedEvent,
    "vn.rehab.token_revoked.v1": TokenRevokedEvent,
}
#: The five event types of the public contract (DESIGN.md section 2) and their topics.
TOPICS: dict[str, str] = {
    "vn.rehab.admitted.v1": "rehab.admitted",
    "vn.rehab.transferred.v1": "rehab.transferred",
    "vn.rehab.completed.v1": "rehab.completed",
    "vn.rehab.relapsed.v1": "rehab.relapsed",
    "vn.rehab.employed.v1": "rehab.employed",
}
ACCESS_TOPIC = "rehab.access"
#: Every event type the suite publishes (the five, the further facts reporting needs, access events) and its topic.
EVENT_TOPICS: dict[str, str] = {
    **TOPICS,
    "vn.rehab.aftercare_opened.v1": "rehab.aftercare_opened",
    "vn.rehab.facility_registered.v1": "rehab.facility_registered",
    "vn.rehab.token_issued.v1": ACCESS_TOPIC,
    "vn.rehab.token_revoked.v1": ACCESS_TOPIC,
}
TYPES_ON_TOPIC: dict[str, frozenset[str]] = {
    topic: frozenset(t for t, on in EVENT_TOPICS.items() if on == topic) for topic in set(EVENT_TOPICS.values())
}
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Annotated[Event, Field(discriminator="type")])


def parse_event(value: bytes) -> Event:
    """A serialized event validated (`ValidationError` if it is not one), holding about half the memory it would.

    Pydantic gives each model the set of the fields it was given: 728 bytes for the envelope's and as many for its
    data's, of the 2.5 KB a decoded event holds, and a consumer keeps thousands of events until their transaction
    commits. The models are frozen, so events given the same fields can share one set; an event with fields of its
    own (extension attributes) keeps its own."""
    event = EVENT_ADAPTER.validate_json(value)
    _share_fields_set(event)
    _share_fields_set(event.data)
    return event


_FIELDS_SETS: dict[tuple[type[BaseModel], int], set[str]] = {}


def _share_fields_set(model: BaseModel) -> None:
    if model.__pydantic_extra__:  # extension attributes, whose names vary: a set of its own
        return
    given = model.__pydantic_fields_set__
    shared = _FIELDS_SETS.setdefault((type(model), len(given)), given)
    if shared is not given and shared == given:
        object.__setattr__(model, "__pydantic_fields_set__", shared)  # frozen: pydantic never changes it after this


_TYPE_OF_DATA: dict[type[EventData], str] = {
    Admitted: "vn.rehab.admitted.v1",
    Transferred: "vn.rehab.transferred.v1",
    Completed: "vn.rehab.completed.v1",
    Relapsed: "vn.rehab.relapsed.v1",
    Employed: "vn.rehab.employed.v1",
    AftercareOpened: "vn.rehab.aftercare_opened.v1",
    FacilityRegistered: "vn.rehab.facility_registered.v1",
    TokenIssued: "vn.rehab.token_issued.v1",
    TokenRevoked: "vn.rehab.token_revoked.v1",
}


def new_event(data: EventData, *, subject: str, source: str, time: datetime | None = None) -> Event:
    """Wrap `data` in a new envelope with a fresh id."""
    event_type = _TYPE_OF_DATA[type(data)]
    return EVENT_MODELS[event_type].model_validate(
        {
            "specversion": SPEC_VERSION,
            "id": str(uuid.uuid4()),
            "source": source,
            "type": event_type,
            "subject": subject,
            "time": time or datetime.now(UTC),
            "datacontenttype": "application/json",
            "data": data,
        }
    )


def serialize(event: Event) -> bytes:
    """The record value: the structured-mode JSON, with absent optional attributes left out rather than null."""
    return event.model_dump_json(exclude={"dataschema"} if event.dataschema is None else None).encode()


def topic_of(event_type: str, prefix: str = "") -> str:
    """The topic an event type is published on, under an optional prefix."""
    return prefix + EVENT_TOPICS[event_type]


def short_type(event_type: str) -> str:
    """`vn.rehab.admitted.v1` -> `admitted`, the name used in metric labels and logs."""
    return event_type.split(".")[2] if event_type in EVENT_TOPICS else "unknown"


def all_topics(prefix: str = "") -> list[str]:
    """Every topic the suite uses, dead-letter included."""
    return [prefix + t for t in (*dict.fromkeys(EVENT_TOPICS.values()), DEADLETTER_TOPIC)]


#: The field of each data type that holds its business date (a lookup by type: `isinstance` on these models costs
#: more than the rest of a consumer's check of an event).
_DATE_FIELDS: dict[type[EventData], str] = {
    Admitted: "admitted_on",
    Transferred: "transferred_on",
    Completed: "completed_on",
    Relapsed: "detected_on",
    Employed: "employed_on",
    AftercareOpened: "opened_on",
    FacilityRegistered: "recorded_on",
    TokenIssued: "issued_at",
    TokenRevoked: "revoked_at",
}


def event_date(data: EventData) -> date:
    """The business date an event happened on."""
    value: date = getattr(data, _DATE_FIELDS[type(data)])
    return value.date() if isinstance(value, datetime) else value
