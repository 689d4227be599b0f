"""`Idempotency-Key`: the first answer to a call is kept and given again when it is retried.

The answer is stored in the same transaction as what the call wrote, so a crash keeps both or
neither; the key is unique per user, so of two concurrent calls with one key only the first
commits, and the second's writes are rolled back and it gets the first answer.
"""

from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from partnerflow.models import IdempotentResponse
from partnerflow.refusals import Refused

HEADER = "Idempotency-Key"


def replay(session: Session, user_id: UUID, key: str, request: str) -> IdempotentResponse | None:
    """The answer stored for the key, or None; refused `invalid` (naming the header) when the
    key was used for a different call."""
    stored = session.exec(
        select(IdempotentResponse).where(
            IdempotentResponse.user_id == user_id, IdempotentResponse.key == key
        )
    ).first()
    if stored is not None and stored.request != request:
        raise Refused(
            "invalid", f"{HEADER} '{key}' was used for {stored.request}", HEADER, where="header"
        )
    return stored


def commit_with_answer(
    session: Session, user_id: UUID, key: str, request: str, status_code: int, body: dict[str, Any]
) -> IdempotentResponse:
    """Commit what the session holds together with its answer. Answers the answer that counts:
    this one, or the first one when a concurrent call with the same key committed before."""
    answer = IdempotentResponse(
        user_id=user_id, key=key, request=request, status_code=status_code, body=body
    )
    session.add(answer)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # this call's writes go too: the first call's stand
        first = replay(session, user_id, key, request)
        if first is None:  # not the key: another constraint refused the writes
            raise
        return first
    return answer
