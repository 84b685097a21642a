"""The HTTP application every service is: its routes, health and metrics, agency tokens, and the answers to
refusals; starting it starts the service (`shared.runtime.running`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import asyncpg
import fastapi_offline
from fastapi import APIRouter, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp

from shared.access import api as access_api
from shared.access.store import install
from shared.api import InvalidFieldError, document_refusals, field_errors
from shared.auth import OutsideJurisdictionError
from shared.database import unavailable
from shared.observability import ReadinessCheck, health_router, instrument_http
from shared.runtime import Runtime, check_broker, check_database, running

log = logging.getLogger(__name__)


def create_service_app(
    runtime: Runtime,
    *,
    title: str,
    description: str,
    migrations: Path,
    routers: Sequence[APIRouter],
    access_tokens: Table,
    errors: type[Exception] | None = None,
    not_found: tuple[type[Exception], ...] = (),
    middleware: Sequence[Callable[[ASGIApp], ASGIApp]] = (),
) -> FastAPI:
    """The HTTP application of one service. `errors`: the base of the service's refusals, answered 409, or 404 for
    the `not_found` kinds. `middleware`: the service's own ASGI middleware, inside the request metrics (what it
    answers is counted)."""
    tokens = install(runtime, access_tokens)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(runtime, migrations):
            yield

    app = FastAPI(title=title, description=description, version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    _serve_docs(app)
    app.state.runtime = runtime
    app.state.access = tokens
    app.state.authenticate = tokens.authenticate
    _answer_refusals(app, errors, not_found)
    checks: dict[str, ReadinessCheck] = {
        "database": partial(check_database, runtime),
        "broker": partial(check_broker, runtime),
    }
    app.include_router(health_router(runtime.settings.service, runtime.metrics, checks))
    for router in (*routers, access_api.router):
        app.include_router(router)
    for layer in middleware:
        app.add_middleware(layer)
    instrument_http(app, runtime.metrics)
    document_refusals(app)
    return app


#: Swagger UI's and ReDoc's files, as the `fastapi-offline` package ships them: served by the service itself, so
#: `/docs` and `/redoc` work on a network that cannot reach a CDN.
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_STATIC = "/docs/static"


def _serve_docs(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc`, their scripts, styles and icon from `/docs/static`."""
    app.mount(DOCS_STATIC, StaticFiles(directory=DOCS_ASSETS), name="docs-static")
    title, openapi_url, icon = f"{app.title}: API", str(app.openapi_url), f"{DOCS_STATIC}/favicon.png"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=icon,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{DOCS_STATIC}/redoc.standalone.js",
            redoc_favicon_url=icon,
            with_google_fonts=False,
        )


def _answer_refusals(app: FastAPI, errors: type[Exception] | None, not_found: tuple[type[Exception], ...]) -> None:
    """Every refusal a route may meet, translated at the boundary; what the caller did wrong names the field."""

    async def refused(request: Request, error: Exception) -> JSONResponse:
        code = status.HTTP_404_NOT_FOUND if isinstance(error, not_found) else status.HTTP_409_CONFLICT
        return JSONResponse({"detail": str(error)}, status_code=code)

    async def outside(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=status.HTTP_403_FORBIDDEN)

    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return _unprocessable(field_errors(error))

    async def invalid_event(request: Request, error: Exception) -> JSONResponse:
        """A contract violation found while building an event from a request: the body's field."""
        assert isinstance(error, ValidationError)
        return _unprocessable(field_errors(error, ("body",)))

    async def invalid_field(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, InvalidFieldError)
        return _unprocessable([{"loc": ["body", error.field], "msg": error.message, "type": "value_error"}])

    if errors is not None:
        app.add_exception_handler(errors, refused)
    app.add_exception_handler(OutsideJurisdictionError, outside)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(ValidationError, invalid_event)
    app.add_exception_handler(InvalidFieldError, invalid_field)
    for error in UNAVAILABLE:
        app.add_exception_handler(error, _database_error)


def _unprocessable(detail: list[dict[str, object]]) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


#: Exceptions a request may meet when PostgreSQL is down or restarting (asyncpg's own, unwrapped, when connecting).
UNAVAILABLE: tuple[type[Exception], ...] = (DBAPIError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
#: What a client is told to wait before trying again while the database is unavailable.
RETRY_AFTER_SECONDS = 5


async def _database_error(request: Request, error: Exception) -> JSONResponse:
    """503 with Retry-After while the database cannot be reached (the pool reconnects by itself); any other
    database error stays a 500."""
    if unavailable(error):
        log.warning("database unavailable (%s); answered 503", type(error).__name__)
        return JSONResponse(
            {"detail": "the database is unavailable; try again later"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    log.error("database error", exc_info=error)
    return JSONResponse({"detail": "internal error"}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
