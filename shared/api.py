"""What the services' HTTP endpoints share: request field types, and how refusals are answered and documented."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

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


def _declared_query(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    return names.union(*(_declared_query(d) for d in dependant.dependencies))


def _query_names(route: APIRoute) -> frozenset[str]:
    names: frozenset[str] | None = getattr(route, "_hoinhap_query_names", None)
    if names is None:
        names = frozenset(_declared_query(route.dependant))
        route._hoinhap_query_names = names  # type: ignore[attr-defined]
    return names


def known_query_parameters(request: Request) -> None:
    """422 for a query parameter the endpoint does not take, so a misspelt `as_of` or `unit` is refused instead of
    silently ignored. The message lists what it takes; it never echoes what was sent. Authentication calls it once
    the caller is known, so an anonymous caller is told only that it must authenticate."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = _query_names(route)
    if any(name not in allowed for name in request.query_params):
        taken = ", ".join(sorted(allowed)) or "none"
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["query"], "msg": f"unknown query parameter; this endpoint takes: {taken}", "type": "extra"}],
        )
