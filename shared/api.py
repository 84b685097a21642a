"""What the services' HTTP endpoints share: request field types, and how refusals are answered and documented."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field

from shared import units
from shared.consumer import DATE_SLACK


def _current_ward(code: str) -> str:
    if not units.is_ward(code):
        raise ValueError("is not the code of a current commune/ward")
    return code


def _not_in_future(day: date) -> date:
    # Consumers dead-letter events dated in the future, so no endpoint may record one.
    if day > datetime.now(UTC).date() + DATE_SLACK:
        raise ValueError("must not be in the future")
    return day


Ward = Annotated[
    str, Field(pattern=r"^\d{5}$", description="Current commune/ward code."), AfterValidator(_current_ward)
]
Day = Annotated[date, AfterValidator(_not_in_future)]


class Problem(BaseModel):
    detail: str = Field(description="Why the request was refused; ids only, never personal data.")


_DESCRIPTIONS = {
    401: "No valid bearer token",
    403: "Outside the caller's jurisdiction",
    404: "No such record (it may not have arrived yet)",
    409: "A rule refuses the request in the current state",
}


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of an endpoint: how it may refuse."""
    return {code: {"model": Problem, "description": _DESCRIPTIONS[code]} for code in (401, *codes)}


def invalid(field: str, message: str) -> HTTPException:
    """A 422 naming the body field and the rule it breaks, as request validation errors do."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, [{"loc": ["body", field], "msg": message, "type": "value_error"}]
    )


def translate_errors(app: FastAPI, base: type[Exception], not_found: tuple[type[Exception], ...]) -> None:
    """Answer a service's domain errors: 404 for the `not_found` kinds, 409 for every other refusal."""

    async def refused(request: Request, error: Exception) -> JSONResponse:
        code = status.HTTP_404_NOT_FOUND if isinstance(error, not_found) else status.HTTP_409_CONFLICT
        return JSONResponse({"detail": str(error)}, status_code=code)

    app.add_exception_handler(base, refused)
