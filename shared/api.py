"""What the services' HTTP endpoints share: request field types, the dependencies a route takes (sessions, units of
work), and how refusals are worded and documented."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import units
from shared.consumer import DATE_SLACK
from shared.unit_of_work import Work


def _current_ward(code: str) -> str:
    if not units.is_ward(code):
        raise ValueError("is not the code of a current commune/ward")
    return code


def _not_in_future(day: date) -> date:
    # Consumers dead-letter events dated in the future, so no endpoint may record one.
    if day > datetime.now(UTC).date() + DATE_SLACK:
        raise ValueError("must not be in the future")
    return day


def without_nul(value: object) -> object:
    """Validator: PostgreSQL cannot store NUL in text, so a request carrying one is answered 422 (see `WITHOUT_NUL`
    for events)."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


#: Free text an agency writes (a decision reference, a facility's name, a plan's title).
Text = Annotated[str, AfterValidator(without_nul)]
Ward = Annotated[
    str, Field(pattern=r"^\d{5}$", description="Current commune/ward code."), AfterValidator(_current_ward)
]
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _written_as_a_day(value: object) -> object:
    # Pydantic would also take a number (seconds since 1970) or a timestamp: `as_of=0` is not a date anyone meant.
    if (isinstance(value, str) and not _ISO_DAY.fullmatch(value)) or isinstance(value, int | float | datetime):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


IsoDay = Annotated[date, BeforeValidator(_written_as_a_day)]
Day = Annotated[IsoDay, AfterValidator(_not_in_future)]


class Problem(BaseModel):
    detail: str = Field(description="Why the request was refused; ids only, never personal data.")


_DESCRIPTIONS = {
    400: "The body is not JSON, or a parameter is malformed",
    401: "No valid bearer token",
    403: "Outside the caller's jurisdiction",
    404: "No such record (it may not have arrived yet)",
    409: "A rule refuses the request in the current state",
}


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of an endpoint: how it may refuse."""
    return {code: {"model": Problem, "description": _DESCRIPTIONS[code]} for code in (401, *codes)}


def answer_created(response: Response, created: bool) -> None:
    """A write's status: 201 when this request made the record, 200 when the same was recorded before."""
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK


class InvalidFieldError(ValueError):
    """A body field breaks a rule that request validation cannot see; answered 422 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def field_errors(
    error: ValidationError | RequestValidationError, prefix: tuple[str, ...] = ()
) -> list[dict[str, object]]:
    """Each error's field and rule, never the rejected value (it may be a national ID)."""
    return [{"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in error.errors()]


async def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    # async: FastAPI runs a plain function in a thread
    sessions: async_sessionmaker[AsyncSession] = request.app.state.runtime.sessions
    return sessions


async def _work(request: Request) -> Work:
    work: Work = request.app.state.runtime.work
    return work


#: A route's read-only sessions.
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
#: A route's way to begin a unit of work for its use case.
Writes = Annotated[Work, Depends(_work)]


def _problem(code: int) -> dict[str, Any]:
    return {
        "description": _DESCRIPTIONS[code],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def document_refusals(app: FastAPI) -> None:
    """Declare in the OpenAPI document what every endpoint may answer whatever its own `responses=` say: 401 when
    it takes a bearer token, 400 when it takes a body (one that is not JSON never reaches validation)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = Problem.model_json_schema()
            for item in document["paths"].values():
                for operation in item.values():
                    responses = operation.setdefault("responses", {})
                    if operation.get("security"):
                        responses.setdefault("401", _problem(401))
                    if "requestBody" in operation:
                        responses.setdefault("400", _problem(400))
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
