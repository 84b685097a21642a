"""The national operator issues, lists and revokes agency tokens on any service."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from shared import units as reference
from shared.access.store import SOURCE, Access, record
from shared.access.tokens import mint, signed
from shared.api import InvalidFieldError, Sessions, Writes
from shared.auth import CurrentPrincipal, Principal
from shared.events import TokenIssued, TokenRevoked, new_event

router = APIRouter(prefix="/v1/tokens", tags=["access"])
TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The token's id, as issued.")]


class TokenRequest(BaseModel):
    agency: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="Agency slug, e.g. hanoi-dolisa.")
    units: Annotated[list[str], Field(min_length=1, max_length=100)] = Field(
        description="Jurisdiction: VN, province codes (2 digits) or ward codes (5 digits)."
    )
    expires_in_days: int = Field(default=365, ge=1, le=3650, description="Lifetime of the token.")


class TokenOut(BaseModel):
    token_id: str
    agency: str
    units: list[str]
    expires_at: datetime
    token: str = Field(description="The bearer token. It is shown this once and stored nowhere.")


class TokenInfo(BaseModel):
    token_id: str
    agency: str | None
    units: list[str] | None
    issued_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


def _operator(principal: Principal) -> None:
    if not principal.operator:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only the national operator manages tokens")


def _access(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenOut,
    responses={403: {}},
    summary="Issue an agency token (national operator only)",
)
async def issue_token(body: TokenRequest, principal: CurrentPrincipal, work: Writes, request: Request) -> TokenOut:
    _operator(principal)
    unknown = [
        u for u in body.units if not (u == reference.COUNTRY or reference.is_province(u) or reference.is_ward(u))
    ]
    if unknown:
        raise InvalidFieldError("units", f"not VN, a province or a ward: {unknown}")
    access = _access(request)
    now = datetime.now(UTC)
    token, claims = mint(access.key, body.agency, body.units, now + timedelta(days=body.expires_in_days))
    issued = signed(
        access.key,
        TokenIssued,
        token_id=claims.token_id,
        agency=body.agency,
        units=sorted(body.units),
        issued_at=now,
        expires_at=now + timedelta(days=body.expires_in_days),
        token_sha256=hashlib.sha256(token.encode()).hexdigest(),
    )
    event = new_event(issued, subject=claims.token_id, source=SOURCE)
    async with work() as uow:
        await record(uow.session, access.tokens, [event])
        await uow.publish(event)
        await uow.audit(principal, "issue_token", claims.token_id)
    return TokenOut(
        token_id=claims.token_id,
        agency=body.agency,
        units=sorted(body.units),
        expires_at=issued.expires_at,
        token=token,
    )


@router.get("", response_model=list[TokenInfo], responses={403: {}}, summary="List agency tokens (operator only)")
async def list_tokens(principal: CurrentPrincipal, sessions: Sessions, request: Request) -> list[TokenInfo]:
    _operator(principal)
    t = _access(request).tokens
    async with sessions() as session:
        rows = (await session.execute(select(t).order_by(t.c.issued_at))).mappings()
        return [TokenInfo.model_validate({k: v for k, v in row.items() if k != "token_sha256"}) for row in rows]


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={403: {}, 404: {}},
    summary="Revoke an agency token (operator only); every service refuses it within seconds",
)
async def revoke_token(token_id: TokenId, principal: CurrentPrincipal, work: Writes, request: Request) -> Response:
    _operator(principal)
    access = _access(request)
    async with work() as uow:
        known = await uow.session.scalar(select(access.tokens.c.token_id).where(access.tokens.c.token_id == token_id))
        if known is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such token_id")
        revoked = signed(access.key, TokenRevoked, token_id=token_id, revoked_at=datetime.now(UTC))
        event = new_event(revoked, subject=token_id, source=SOURCE)
        await record(uow.session, access.tokens, [event])
        await uow.publish(event)
        await uow.audit(principal, "revoke_token", token_id)
    access.authenticate.revoked_here(token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
