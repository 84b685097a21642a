"""Who is calling: bearer tokens resolved to a principal with a jurisdiction (a set of units)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared import units
from shared.api import known_query_parameters


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the agency it speaks for and the units it may write and read."""

    agency: str
    jurisdiction: frozenset[str]
    token_id: str | None = None
    operator: bool = False  # the national operator (HOINHAP_ADMIN_TOKEN), who manages agency tokens

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


def require_unit(principal: Principal, unit: str) -> None:
    """403 unless `unit` is within the principal's jurisdiction."""
    if not principal.covers(unit):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"unit {unit} is outside the jurisdiction of {principal.agency}")
