"""Who is calling: bearer tokens resolved to a principal with a jurisdiction (a set of units)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared import units


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the agency it speaks for and the units it may write and read."""

    agency: str
    jurisdiction: frozenset[str]
    token_id: str | None = None
    operator: bool = False  # the national operator (HOINHAP_ADMIN_TOKEN), who manages agency tokens

    @property
    def source(self) -> str:
        """The `source` of the events this principal's requests publish."""
        return f"/vn/agency/{self.agency}"

    def covers(self, unit: str) -> bool:
        """Whether `unit` (a ward, a province or VN) lies within this principal's jurisdiction."""
        if units.COUNTRY in self.jurisdiction or unit in self.jurisdiction:
            return True
        return units.is_ward(unit) and units.province_of(unit) in self.jurisdiction


NATIONAL_OPERATOR = Principal(agency="national-operator", jurisdiction=frozenset({units.COUNTRY}), operator=True)

#: Resolves a presented token to its principal, or None when the token is unknown.
Authenticate = Callable[[str], Awaitable[Principal | None]]


_bearer = HTTPBearer(auto_error=False, description="An agency token, or the national operator token.")


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """FastAPI dependency: the caller, or 401. The app puts its `Authenticate` in `app.state.authenticate`."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    authenticate: Authenticate = request.app.state.authenticate
    principal = await authenticate(credentials.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the bearer token is not valid",
            headers={"WWW-Authenticate": "Bearer"},
        )
    known_query_parameters(request)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class OutsideJurisdictionError(Exception):
    """The caller may not write or read that unit; answered 403."""


def require_unit(principal: Principal, unit: str) -> None:
    """Refuse (403) unless `unit` is within the principal's jurisdiction."""
    if not principal.covers(unit):
        raise OutsideJurisdictionError(f"unit {unit} is outside the jurisdiction of {principal.agency}")


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
