"""Puts the web UI on the app: its pages, its static files, and HTML answers for its errors."""

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

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
)
from api.web.session import SignInRequired
from api.web.templating import page

_TITLES = {
    403: "Not allowed",
    404: "Not found",
    409: "Not possible now",
    422: "Not valid",
    429: "Slow down",
    503: "Try again in a moment",
}

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
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.middleware("http")
    async def page_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if not is_api(request.url.path):
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    @app.exception_handler(SignInRequired)
    async def sign_in_first(_: Request, error: SignInRequired) -> Response:
        return RedirectResponse(error.location, status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        # The API answers JSON; a person in a browser gets a page.
        if is_api(request.url.path):
            return await http_exception_handler(request, error)
        detail = error.detail if isinstance(error.detail, str) else "the request was not valid"
        response = error_page(request, error.status_code, detail)
        response.headers.update(error.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_form(request: Request, error: RequestValidationError) -> Response:
        if is_api(request.url.path):
            return await request_validation_exception_handler(request, error)
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"][1:])
        return error_page(request, 422, f"the form was not valid: {where}: {first['msg']}")


def error_page(request: Request, status_code: int, message: str) -> Response:
    return page(
        request,
        "error.html",
        status_code,
        title=_TITLES.get(status_code, "Something is not right"),
        message=message[:1].upper() + message[1:],
    )


def is_api(path: str) -> bool:
    return path.startswith(("/api/", "/metrics", "/healthz", "/readyz", "/docs", "/openapi"))
