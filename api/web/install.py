"""Puts the web UI on the app: its pages, its static files, and HTML answers for its errors."""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.asgi import on_response_start
from api.web import (
    account_pages,
    builder_pages,
    email_pages,
    offer_pages,
    people_pages,
    portal_pages,
    service_area_pages,
    sign_in_pages,
    staff_pages,
    webhook_pages,
)
from api.web.i18n import N_, PageLanguage, refusal_text
from api.web.i18n import gettext as _
from api.web.session import SignInRequired
from api.web.templating import page
from partnerflow.settings import Settings
from partnerflow.spec import Language

_TITLES = {
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("Not possible now"),
    422: N_("Not valid"),
    429: N_("Slow down"),
    503: N_("Try again in a moment"),
}
_SOMETHING_WRONG = N_("Something is not right")

# Pages load only their own script and stylesheet; nothing may frame them; a sign-in link's
# token never leaves in a Referer header. E-mails shown in sandboxed frames inherit this.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def install(app: FastAPI) -> None:
    for module in (
        sign_in_pages,
        staff_pages,
        builder_pages,
        email_pages,
        portal_pages,
        offer_pages,
        account_pages,
        service_area_pages,
        people_pages,
        webhook_pages,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.add_middleware(PageLanguage, default=_page_language, pages=lambda path: not is_api(path))
    app.add_middleware(PageHeaders)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(_: Request, error: SignInRequired) -> Response:
        return RedirectResponse(error.location, status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        # The API answers JSON; a person in a browser gets a page.
        if is_api(request.url.path):
            return await http_exception_handler(request, error)
        detail = error.detail if isinstance(error.detail, str) else _("the request was not valid")
        response = error_page(request, error.status_code, detail)
        response.headers.update(error.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_form(request: Request, error: RequestValidationError) -> Response:
        if is_api(request.url.path):
            return await request_validation_exception_handler(request, error)
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"][1:])
        message = _("the form was not valid: %(where)s: %(why)s")
        return error_page(request, 422, message % {"where": where, "why": first["msg"]})


class PageHeaders:
    """`PAGE_HEADERS` on every answer that is not the API's, where the answer set none of its
    own. Plain ASGI, as api/metrics.py's `CountRequests`: an `http` middleware ran each request
    in a task group of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_api(scope["path"]):
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, on_response_start(send, _add_page_headers))


def _add_page_headers(start: Message) -> None:
    headers = MutableHeaders(scope=start)
    for name, value in PAGE_HEADERS.items():
        headers.setdefault(name, value)


def error_page(request: Request, status_code: int, message: str) -> Response:
    return page(
        request,
        "error.html",
        status_code,
        title=_(_TITLES.get(status_code, _SOMETHING_WRONG)),
        message=_capitalised(refusal_text(message)),
    )


def _capitalised(message: str) -> str:
    return message[:1].upper() + message[1:]


def _page_language(scope: Scope) -> Language:
    settings: Settings = scope["app"].state.settings
    return settings.page_language or settings.default_language


def is_api(path: str) -> bool:
    return path.startswith(("/api/", "/metrics", "/healthz", "/readyz", "/docs", "/openapi"))
