"""API tokens: random, shown once, stored as their SHA-256 only."""

import hashlib
import secrets
from uuid import UUID

from sqlmodel import Session, col, select

from partnerflow.models import ApiToken, User

TOKEN_PREFIX = "pf_"  # noqa: S105 (a prefix, not a secret)


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user_id: UUID, token: str | None = None) -> str:
    """Store a new token for the user (the given one, or a fresh one) and return it in clear."""
    token = token or TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user_id, token_hash=hash_token(token)))
    return token


def token_owner(session: Session, token: str) -> tuple[ApiToken, User] | None:
    """The live token and its active user, or None (unknown, revoked, or user switched off)."""
    row = session.exec(
        select(ApiToken, User)
        .join(User, col(User.id) == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    api_token, user = row
    if api_token.revoked_at is not None or not user.active:
        return None
    return api_token, user
