"""Intake's HTTP endpoints: register a person, admit them into treatment."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import AfterValidator, BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake import db
from services.intake.domain import pseudonymise
from services.intake.models import audit_log
from shared import units
from shared.audit import audit
from shared.auth import CurrentPrincipal, require_unit
from shared.events import Admitted, Identifier, Modality, Sex, Substance, new_event
from shared.runtime import Runtime, session, unprocessable

router = APIRouter(prefix="/v1", tags=["intake"])
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(session)]


def _current_ward(code: str) -> str:
    if not units.is_ward(code):
        raise ValueError("is not the code of a current commune/ward")
    return code


Ward = Annotated[
    str, Field(pattern=r"^\d{5}$", description="Current commune/ward code."), AfterValidator(_current_ward)
]


class PersonIn(BaseModel):
    national_id: str = Field(
        pattern=r"^(\d{9}|\d{12})$",
        description="National ID number (12-digit CCCD or 9-digit CMND); never stored, only its pseudonym.",
    )
    sex: Sex
    birth_year: int = Field(ge=1900, le=date.today().year, description="Year of birth.")
    residence_unit: Ward


class PersonOut(BaseModel):
    subject: str = Field(description="The person's pseudonym; use it for admissions.")


class AdmissionIn(BaseModel):
    subject: str = Field(pattern=r"^[0-9a-f]{64}$", description="Pseudonym returned by POST /v1/persons.")
    modality: Modality
    admitted_on: date
    unit: Ward = Field(description="The commune/ward that manages the person.")
    facility_id: Identifier | None = Field(default=None, description="Facility, for residential modalities.")
    substances: list[Substance] = Field(min_length=1, description="Substances used, the primary first.")
    legal_basis: str | None = Field(default=None, description="Decision reference; required for compulsory.")
    service_point_id: Identifier | None = None
    previous_episode_id: Identifier | None = None


class AdmissionOut(BaseModel):
    episode_id: str


@router.post(
    "/persons",
    status_code=status.HTTP_201_CREATED,
    response_model=PersonOut,
    responses={200: {"model": PersonOut, "description": "Already registered"}, 403: {}},
    summary="Register a person under a pseudonym",
)
async def register_person(
    body: PersonIn, principal: CurrentPrincipal, sessions: Sessions, request: Request, response: Response
) -> PersonOut:
    require_unit(principal, body.residence_unit)
    subject = pseudonymise(body.national_id, request.app.state.subject_key)
    async with sessions.begin() as s:
        created = await db.register_person(s, subject, body.sex, body.birth_year, body.residence_unit)
        if created:
            await audit(s, audit_log, principal, "register_person", f"ward {body.residence_unit}")
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return PersonOut(subject=subject)


@router.post(
    "/admissions",
    status_code=status.HTTP_201_CREATED,
    response_model=AdmissionOut,
    responses={
        200: {"model": AdmissionOut, "description": "The same admission was recorded before"},
        403: {},
        404: {},
    },
    summary="Admit a registered person into a treatment modality; emits `admitted`",
)
async def admit(
    body: AdmissionIn, principal: CurrentPrincipal, sessions: Sessions, request: Request, response: Response
) -> AdmissionOut:
    require_unit(principal, body.unit)
    runtime: Runtime = request.app.state.runtime
    try:
        async with sessions.begin() as s:
            existing = await db.find_episode(s, body.subject, body.modality, body.admitted_on)
            if existing is not None:
                response.status_code = status.HTTP_200_OK
                return AdmissionOut(episode_id=existing.episode_id)
            person = await db.get_person(s, body.subject)
            if person is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "subject is not registered; POST /v1/persons first")
            admitted = _admitted(body, person.sex, person.birth_year)
            event = new_event(admitted, subject=body.subject, source=f"/vn/agency/{principal.agency}")
            await db.record_admission(s, admitted, event, principal.agency)
            await audit(s, audit_log, principal, "admit", admitted.episode_id)
    except IntegrityError:  # the same admission, posted concurrently, won the race
        async with sessions.begin() as s:
            existing = await db.find_episode(s, body.subject, body.modality, body.admitted_on)
        if existing is None:
            raise
        response.status_code = status.HTTP_200_OK
        return AdmissionOut(episode_id=existing.episode_id)
    runtime.relay.wake()
    return AdmissionOut(episode_id=admitted.episode_id)


def _admitted(body: AdmissionIn, sex: str, birth_year: int) -> Admitted:
    try:
        return Admitted.model_validate(
            {
                **body.model_dump(exclude={"subject"}),
                "episode_id": f"ep-{uuid.uuid4().hex}",
                "sex": Sex(sex),
                "birth_year": birth_year,
            },
        )
    except ValidationError as error:
        raise unprocessable(error) from None
