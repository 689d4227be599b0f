"""`Idempotency-Key`: the first answer to a call is kept and given again when it is retried."""

from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from partnerflow.models import IdempotentResponse


class KeyReused(ValueError):
    """The same key was used for a different call."""


def replay(session: Session, user_id: UUID, key: str, request: str) -> IdempotentResponse | None:
    stored = session.exec(
        select(IdempotentResponse).where(
            IdempotentResponse.user_id == user_id, IdempotentResponse.key == key
        )
    ).first()
    if stored is not None and stored.request != request:
        raise KeyReused(f"Idempotency-Key '{key}' was used for {stored.request}")
    return stored


def remember(
    session: Session, user_id: UUID, key: str, request: str, status_code: int, body: dict[str, Any]
) -> None:
    session.add(
        IdempotentResponse(
            user_id=user_id, key=key, request=request, status_code=status_code, body=body
        )
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # a concurrent retry stored the same answer first
