"""The FastAPI application: one DB engine and one Temporal client for its lifetime."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Header, Request, status
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api.errors import ERROR_RESPONSES, answer
from api.limits import BodyLimit
from api.metrics import ApiMetrics, CountRequests
from api.rate_limit import RateLimiter
from api.routes import (
    absences,
    automations,
    bulk,
    calendar,
    email_templates,
    health,
    invitations,
    my,
    notifications,
    offers,
    opportunities,
    outbox,
    partners,
    process_templates,
    processes,
    steps,
    tokens,
    users,
    webhooks,
)
from api.web import install as web
from partnerflow import logs
from partnerflow.db import make_engine
from partnerflow.mail import Mailer
from partnerflow.refusals import Refused, http_status
from partnerflow.render_pool import RenderUnavailable
from partnerflow.settings import Settings, get_settings
from partnerflow.temporal import connect
from partnerflow.transports import build_transport


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    """The app; tests hand in their settings and the client of their Temporal server.

    The lifespan reads both from `app.state`, so one app can run again with other settings:
    the tests build FastAPI's per-route state once per run instead of once per test."""
    app = FastAPI(title="Partnerflow", version="0.1.0", lifespan=_lifespan)
    app.state.settings = settings or get_settings()
    app.state.given_temporal = temporal
    # Added first, so innermost: FastAPI reads the body through the limiter's `receive`
    # directly. Behind a BaseHTTPMiddleware its 413 would arrive wrapped in an ExceptionGroup,
    # which FastAPI answers with 400 "error parsing the body".
    app.add_middleware(BodyLimit, upload_limit=lambda: app.state.settings.max_upload_bytes)
    app.add_middleware(CountRequests)

    @app.get(
        "/metrics",
        include_in_schema=True,
        tags=["health"],
        response_class=Response,
        responses={404: ERROR_RESPONSES[404]},
    )
    def prometheus_metrics(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        """For a scraper with `PARTNERFLOW_METRICS_TOKEN`; 404 to anyone else. Better still:
        `PARTNERFLOW_METRICS_PORT`, a port the public never reaches."""
        state = request.app.state
        return state.metrics.render_for(authorization, state.settings.metrics_token)

    for module in (
        health,
        users,
        absences,
        tokens,
        partners,
        invitations,
        email_templates,
        process_templates,
        opportunities,
        automations,
        processes,
        steps,
        bulk,
        offers,
        my,
        notifications,
        outbox,
        calendar,
        webhooks,
    ):
        app.include_router(module.router, responses=ERROR_RESPONSES)

    web.install(app)

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> Response:
        if not web.is_api(request.url.path):  # a person in a browser gets a page
            return web.error_page(request, http_status(error.kind), error.message)
        return answer(error)

    @app.exception_handler(RPCError)
    async def temporal_unavailable(request: Request, error: RPCError) -> Response:
        message = f"Temporal did not answer: {error.status.name}"
        return _respond(request, status.HTTP_503_SERVICE_UNAVAILABLE, message)

    for error_type, (status_code, message) in _ANSWERS.items():
        app.add_exception_handler(error_type, _answer(status_code, message))

    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    logs.configure(settings.log_format)
    engine = make_engine(settings.database_url, page_cache_mb=32)
    app.state.engine = engine
    app.state.mailer = Mailer(engine, settings, build_transport(settings))
    app.state.rate_limiter = RateLimiter(engine, settings.public_rate_limit_per_minute)
    app.state.temporal = app.state.given_temporal or await connect(settings)
    metrics = app.state.metrics = ApiMetrics()  # counts since this start, like a process's
    stop_metrics = metrics.serve(settings.metrics_port) if settings.metrics_port else None
    try:
        yield
    finally:
        if stop_metrics is not None:
            stop_metrics()
        engine.dispose()


# Errors from below the routes, answered without a 500. Nothing accepted is lost: an update
# Temporal did not answer is found again by a retry with the same Idempotency-Key.
_ANSWERS: dict[type[Exception], tuple[int, str]] = {
    WorkflowUpdateRPCTimeoutOrCancelledError: (503, "Temporal did not answer in time; try again"),
    UnicodeEncodeError: (422, "text must be valid Unicode: a lone surrogate cannot be stored"),
    DataError: (422, "a value cannot be stored (e.g. a NUL character in a text)"),
    OperationalError: (503, "the database did not answer"),
    RenderUnavailable: (503, "every e-mail render process is busy; try again in a moment"),
}


def _answer(status_code: int, message: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(request: Request, error: Exception) -> Response:
        return _respond(request, status_code, message)

    return handler


def _respond(request: Request, status_code: int, message: str) -> Response:
    if not web.is_api(request.url.path):  # a person in a browser gets a page
        return web.error_page(request, status_code, message)
    return JSONResponse({"detail": message}, status_code=status_code)
