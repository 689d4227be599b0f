"""The FastAPI application: one DB engine and one Temporal client for its lifetime."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api.errors import ERROR_RESPONSES
from api.limits import BodyLimit
from api.metrics import ApiMetrics
from api.rate_limit import RateLimiter
from api.routes import (
    automations,
    email_templates,
    health,
    invitations,
    my,
    notifications,
    opportunities,
    outbox,
    partners,
    process_templates,
    processes,
    steps,
    users,
)
from api.web import install as web
from partnerflow import logs
from partnerflow.db import make_engine
from partnerflow.mail import Mailer
from partnerflow.settings import Settings, get_settings
from partnerflow.temporal import connect
from partnerflow.transports import build_transport


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    """The app; tests hand in their settings and the client of their Temporal server."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.configure(settings.log_format)
        engine = make_engine(settings.database_url)
        app.state.settings = settings
        app.state.engine = engine
        app.state.mailer = Mailer(engine, settings, build_transport(settings))
        app.state.rate_limiter = RateLimiter(settings.public_rate_limit_per_minute)
        app.state.temporal = temporal or await connect(settings)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(title="Partnerflow", version="0.1.0", lifespan=lifespan)
    metrics = ApiMetrics()
    app.middleware("http")(metrics.middleware)
    app.add_middleware(BodyLimit, upload_limit=lambda: settings.max_upload_bytes)

    @app.get("/metrics", include_in_schema=True, tags=["health"], response_class=Response)
    def prometheus_metrics() -> Response:
        return metrics.render()

    for module in (
        health,
        users,
        partners,
        invitations,
        email_templates,
        process_templates,
        opportunities,
        automations,
        processes,
        steps,
        my,
        notifications,
        outbox,
    ):
        app.include_router(module.router, responses=ERROR_RESPONSES)

    web.install(app)

    @app.exception_handler(RPCError)
    async def temporal_unavailable(request: Request, error: RPCError) -> Response:
        message = f"Temporal did not answer: {error.status.name}"
        return _respond(request, status.HTTP_503_SERVICE_UNAVAILABLE, message)

    for error_type, (status_code, message) in _ANSWERS.items():
        app.add_exception_handler(error_type, _answer(status_code, message))

    return app


# Errors from below the routes, answered without a 500. Nothing accepted is lost: an update
# Temporal did not answer is found again by a retry with the same Idempotency-Key.
_ANSWERS: dict[type[Exception], tuple[int, str]] = {
    WorkflowUpdateRPCTimeoutOrCancelledError: (503, "Temporal did not answer in time; try again"),
    UnicodeEncodeError: (422, "text must be valid Unicode: a lone surrogate cannot be stored"),
    DataError: (422, "a value cannot be stored (e.g. a NUL character in a text)"),
    OperationalError: (503, "the database did not answer"),
}


def _answer(status_code: int, message: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(request: Request, error: Exception) -> Response:
        return _respond(request, status_code, message)

    return handler


def _respond(request: Request, status_code: int, message: str) -> Response:
    if not web.is_api(request.url.path):  # a person in a browser gets a page
        return web.error_page(request, status_code, message)
    return JSONResponse({"detail": message}, status_code=status_code)
