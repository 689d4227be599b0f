"""API tokens: random, shown once, stored as their SHA-256 only; they expire and can be revoked."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from partnerflow.db import utcnow
from partnerflow.models import ApiToken, User
from partnerflow.settings import get_settings

TOKEN_PREFIX = "pf_"  # noqa: S105 (a prefix, not a secret)

# `last_used_at` is written when it is at least this old: a busy client costs one write a
# minute, not one per request, and the admin's list is still right to the minute.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    row: ApiToken
    token: str  # in clear: shown once, stored nowhere


def issue(
    session: Session, user_id: UUID, *, ttl_days: int | None = None, token: str | None = None
) -> IssuedToken:
    """A new token for the user (the given one, or a fresh one), valid for `ttl_days`
    (`PARTNERFLOW_TOKEN_TTL_DAYS` unless given)."""
    token = token or TOKEN_PREFIX + secrets.token_urlsafe(32)
    days = ttl_days if ttl_days is not None else get_settings().token_ttl_days
    now = utcnow()
    row = ApiToken(
        user_id=user_id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(row)
    return IssuedToken(row=row, token=token)


def issue_token(
    session: Session, user_id: UUID, token: str | None = None, *, ttl_days: int | None = None
) -> str:
    """Store a new token for the user (the given one, or a fresh one) and return it in clear."""
    return issue(session, user_id, ttl_days=ttl_days, token=token).token


TokenProblem = Literal["unknown", "revoked", "expired", "deactivated"]


@dataclass(frozen=True)
class TokenRefused:
    problem: TokenProblem
    expired_at: datetime | None = None

    @property
    def detail(self) -> str:
        """What the 401 says: enough for the token's holder to know what to do next."""
        match self.problem:
            case "unknown":
                return "missing or invalid bearer token"
            case "revoked":
                return "this token was revoked; use another one or ask an admin"
            case "expired":
                when = self.expired_at.isoformat() if self.expired_at else "earlier"
                return (
                    f"this token expired at {when}; sign in to the web UI (or ask an admin "
                    "for a sign-in link) and create a new one"
                )
            case "deactivated":
                return "this account is deactivated"


def check_token(session: Session, token: str) -> tuple[ApiToken, User] | TokenRefused:
    """The live token and its active user, or why not. Marks the token used (see
    LAST_USED_RESOLUTION); the caller commits."""
    row = session.exec(
        select(ApiToken, User)
        .join(User, col(User.id) == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        return TokenRefused("unknown")
    api_token, user = row
    now = utcnow()
    if not user.active:
        return TokenRefused("deactivated")
    if api_token.revoked_at is not None:
        return TokenRefused("revoked")
    if api_token.expires_at <= now:
        return TokenRefused("expired", expired_at=api_token.expires_at)
    if api_token.last_used_at is None or now - api_token.last_used_at >= LAST_USED_RESOLUTION:
        # Conditional, so requests at the same moment write once; Core, so the loaded row
        # (and the caller's view of it) stays as read.
        session.execute(
            update(ApiToken)
            .where(
                col(ApiToken.id) == api_token.id,
                or_(
                    col(ApiToken.last_used_at).is_(None),
                    col(ApiToken.last_used_at) <= now - LAST_USED_RESOLUTION,
                ),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    return api_token, user


def token_owner(session: Session, token: str) -> tuple[ApiToken, User] | None:
    """The live token and its active user, or None (unknown, revoked, expired, or user
    switched off)."""
    checked = check_token(session, token)
    return None if isinstance(checked, TokenRefused) else checked


def revoke_token(session: Session, token_id: UUID) -> ApiToken | None:
    """Revoke the token (a browser session opened with it ends too); None if there is none."""
    row = session.get(ApiToken, token_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
    return row


def token_state(
    row: ApiToken, now: datetime | None = None
) -> Literal["live", "expired", "revoked"]:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at <= (now or utcnow()):
        return "expired"
    return "live"
