"""What the API's plain ASGI middlewares share."""

from collections.abc import Callable

from starlette.types import Message, Send


def on_response_start(send: Send, seen: Callable[[Message], object]) -> Send:
    """`send`, showing `seen` the response's start (its status and headers, which `seen` may
    change) before it goes out."""

    async def watched(message: Message) -> None:
        if message["type"] == "http.response.start":
            seen(message)
        await send(message)

    return watched
