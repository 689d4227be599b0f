"""Request bodies have a size limit: a JSON body small, an upload as large as allowed."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette import status
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.asgi import on_response_start

JSON_LIMIT = 1024 * 1024  # no JSON body of this API needs more than a megabyte


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body without a (truthful) length passes the limit.

    FastAPI reads the body before a route runs and turns any error while reading into 400
    "error parsing the body", except an HTTPException, which it lets through: so the client
    gets this 413 and the route never runs."""

    def __init__(self, limit: int) -> None:
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, _too_large_detail(limit))


class BodyLimit:
    """Answers 413 when the body is larger than allowed, whether or not it says its length."""

    def __init__(self, app: ASGIApp, upload_limit: Callable[[], int]) -> None:
        self.app = app
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        limit = (
            self.upload_limit() + 64 * 1024 if content_type.startswith("multipart/") else JSON_LIMIT
        )
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0
        starts: list[Message] = []

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, limited_receive, on_response_start(send, starts.append))
        except BodyTooLarge:
            # Read outside FastAPI's request handling (a middleware, a streaming route):
            # nobody answered yet, so the limit does.
            if starts:
                raise
            await _too_large(send, limit)


def _too_large_detail(limit: int) -> str:
    return f"the request body is larger than {limit} bytes"


async def _too_large(send: Callable[[Any], Awaitable[None]], limit: int) -> None:
    body = json.dumps({"detail": _too_large_detail(limit)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
