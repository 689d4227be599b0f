"""Runs a call at most once per `Idempotency-Key`; a retry gets the first answer back."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlmodel import Session

from api.deps import Caller
from api.errors import invalid
from partnerflow.idempotency import KeyReused, remember, replay

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
]


async def once(
    session: Session,
    caller: Caller,
    key: str | None,
    request: str,
    status_code: int,
    produce: Callable[[], Awaitable[BaseModel]],
) -> JSONResponse:
    if key:
        try:
            stored = replay(session, caller.user.id, key, request)
        except KeyReused as error:
            invalid("Idempotency-Key", str(error), where="header")
        if stored is not None:
            return JSONResponse(stored.body, status_code=stored.status_code)
    body = (await produce()).model_dump(mode="json")
    if key:
        remember(session, caller.user.id, key, request, status_code, body)
    return JSONResponse(body, status_code=status_code)
