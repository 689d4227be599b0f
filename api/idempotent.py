"""Runs a call at most once per `Idempotency-Key`; a retry gets the first answer back."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlmodel import Session

from partnerflow.callers import Caller
from partnerflow.idempotency import HEADER, commit_with_answer, replay

IdempotencyKey = Annotated[str | None, Header(alias=HEADER, min_length=1, max_length=200)]


async def once(
    session: Session,
    caller: Caller,
    key: str | None,
    request: str,
    status_code: int,
    produce: Callable[[], Awaitable[BaseModel]],
    then: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> JSONResponse:
    """`produce` leaves its writes in the session: they commit in one transaction with the
    answer. `then` runs after that commit, on the first call and on every retry, and finishes
    what the answer promised (so it must be safe to repeat)."""
    stored = replay(session, caller.user.id, key, request) if key else None
    if stored is None:
        body = (await produce()).model_dump(mode="json")
        if key:
            stored = commit_with_answer(session, caller.user.id, key, request, status_code, body)
        else:
            session.commit()
    if stored is not None:
        body, status_code = stored.body, stored.status_code
    if then is not None:
        await then(body)
    return JSONResponse(body, status_code=status_code)
