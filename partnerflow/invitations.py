"""Partner invitations: a single-use, expiring link; only the token's hash is stored."""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from partnerflow.auth import hash_token, issue_token
from partnerflow.db import utcnow
from partnerflow.default_emails import DEFAULTS
from partnerflow.emails import render
from partnerflow.mail import Mailer
from partnerflow.models import Invitation, Partner, User
from partnerflow.refusals import gone, not_found
from partnerflow.settings import Settings
from partnerflow.spec import Language
from partnerflow.transports import PermanentDeliveryError, TemporaryDeliveryError


@dataclass(frozen=True)
class Acceptance:
    partner: Partner
    user: User
    token: str


def invite(
    session: Session, partner: Partner, inviter: User, settings: Settings, language: Language
) -> str:
    """A new invitation for the partner (older pending ones stop working); the token, in clear."""
    for pending in session.exec(
        select(Invitation).where(
            Invitation.partner_id == partner.id, Invitation.status == "pending"
        )
    ):
        pending.status = "superseded"
        session.add(pending)
    token = secrets.token_urlsafe(32)
    session.add(
        Invitation(
            partner_id=partner.id,
            token_hash=hash_token(token),
            invited_by=inviter.id,
            language=language,
            expires_at=utcnow() + timedelta(hours=settings.invitation_ttl_hours),
        )
    )
    partner.status = "invited"
    session.add(partner)
    return token


def send_invitation(
    session: Session, mailer: Mailer, settings: Settings, partner: Partner, token: str
) -> str:
    """E-mail the link; answers the outbox status (`sent`, or `queued`/`failed` to re-send)."""
    invitation = find(session, token)
    url = f"{settings.public_url.rstrip('/')}/invitations/{token}"
    source = DEFAULTS["invitation"][invitation.language]
    email = render(
        source["subject"],
        source["body_html"],
        None,
        {
            "partner": {"name": partner.name},
            "invitation": {
                "url": url,
                "expires_at": invitation.expires_at,
                "invited_by": inviter_name(session, invitation),
            },
        },
        language=invitation.language,
    )
    try:
        row = mailer.deliver(
            idempotency_key=f"invitation:{invitation.id}",
            kind="invitation",
            to=[partner.email],
            email=email,
            # the link is a credential: a provider's copy in the outbox keeps it masked
            secret=token,
        )
    except (PermanentDeliveryError, TemporaryDeliveryError):
        return "failed"
    return row.status


def find(session: Session, token: str) -> Invitation:
    invitation = session.exec(
        select(Invitation).where(Invitation.token_hash == hash_token(token))
    ).first()
    if invitation is None:
        raise not_found("invitation")
    return invitation


def inviter_name(session: Session, invitation: Invitation) -> str:
    inviter = session.get(User, invitation.invited_by)
    return inviter.name if inviter else ""


def usable(session: Session, token: str) -> tuple[Invitation, Partner]:
    """The pending invitation and its partner; refused `not_found` for an unknown token,
    `gone` for one used, declined, replaced by a newer one, or expired."""
    invitation = find(session, token)
    partner = session.get(Partner, invitation.partner_id)
    if invitation.status != "pending" or partner is None or partner.status != "invited":
        raise gone("this invitation was already used or replaced")
    if invitation.expires_at <= utcnow():
        raise gone("this invitation has expired")
    return invitation, partner


def _claim(session: Session, invitation: Invitation, answer: str) -> None:
    """Take the invitation for this answer in one statement, `pending` → `answer`: of two
    answers sent at once, the second finds it taken (its transaction waits for the first)."""
    claimed = session.execute(
        update(Invitation)
        .where(col(Invitation.id) == invitation.id, col(Invitation.status) == "pending")
        .values(status=answer, used_at=utcnow())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise gone("this invitation was already used or replaced")
    session.refresh(invitation)


def _answer_partner(session: Session, partner: Partner, answer: str) -> None:
    """`invited` → `answer` in one statement: a revocation committed since the invitation was
    read stays (an unconditional write would make the revoked partner active again)."""
    changed = session.execute(
        update(Partner)
        .where(col(Partner.id) == partner.id, col(Partner.status) == "invited")
        .values(status=answer)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise gone("this invitation is no longer valid")
    session.refresh(partner)


def accept(
    session: Session, token: str, name: str, email: str, *, ttl_days: int | None = None
) -> Acceptance:
    """The partner active with its first user, who gets an API token; the caller commits (a
    browser's sign-in with it). `ttl_days`: the token's lifetime; the routes pass the app's
    settings (left out, the environment's `PARTNERFLOW_TOKEN_TTL_DAYS`)."""
    invitation, partner = usable(session, token)
    _claim(session, invitation, "accepted")
    _answer_partner(session, partner, "active")
    user = User(name=name, email=email.lower(), role="partner", partner_id=partner.id)
    session.add(user)
    session.flush()
    token = issue_token(session, user.id, ttl_days=ttl_days)
    return Acceptance(partner=partner, user=user, token=token)


def decline(session: Session, token: str) -> Partner:
    """The partner `declined`; the caller commits."""
    invitation, partner = usable(session, token)
    _claim(session, invitation, "declined")
    _answer_partner(session, partner, "declined")
    return partner
