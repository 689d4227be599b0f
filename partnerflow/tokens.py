"""API tokens as people manage them: their own (made, listed, revoked), and every token for
an admin. How a token is made, checked and revoked is partnerflow/auth.py."""

import uuid

from sqlalchemy import func
from sqlmodel import Session, col, select

from partnerflow.auth import IssuedToken, issue, revoke_token
from partnerflow.models import ApiToken, User
from partnerflow.refusals import not_found
from partnerflow.settings import Settings


def own(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens, oldest first."""
    return list(
        session.exec(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(col(ApiToken.created_at))
        )
    )


def issue_own(session: Session, settings: Settings, user: User) -> IssuedToken:
    """Another token for the user, valid for `PARTNERFLOW_TOKEN_TTL_DAYS`; committed."""
    issued = issue(session, user.id, ttl_days=settings.token_ttl_days)
    session.commit()
    return issued


def revoke_own(session: Session, user: User, token_id: uuid.UUID) -> ApiToken:
    """Revoke one of the user's tokens (a browser session opened with it ends too)."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise not_found("token")
    return _revoked(session, token_id)


def revoke_any(session: Session, token_id: uuid.UUID) -> ApiToken:
    """Revoke anyone's token (an admin's doing)."""
    return _revoked(session, token_id)


def _revoked(session: Session, token_id: uuid.UUID) -> ApiToken:
    row = revoke_token(session, token_id)
    if row is None:
        raise not_found("token")
    session.commit()
    return row


def every(
    session: Session, *, user_id: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[tuple[ApiToken, User]], int]:
    """One page of every user's tokens (or one user's), oldest first, with their owners;
    and how many there are in all."""
    tokens = select(ApiToken)
    if user_id is not None:
        tokens = tokens.where(ApiToken.user_id == user_id)
    count = session.exec(select(func.count()).select_from(tokens.subquery())).one()
    listed = session.exec(
        tokens.order_by(col(ApiToken.created_at), col(ApiToken.id)).limit(limit).offset(offset)
    ).all()
    owners = {
        user.id: user
        for user in session.exec(
            select(User).where(col(User.id).in_({token.user_id for token in listed}))
        )
    }
    return [(token, owners[token.user_id]) for token in listed], count
