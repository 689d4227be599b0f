"""Signing in a browser: staff with their API token, partners by a magic link sent by e-mail,
and a new account (staff or partner) once by the welcome link it is sent.

All end in a session whose cookie holds a random token; only its SHA-256 is stored. A link
works once and expires; a session ends on sign-out, expiry, when its user or partner is
switched off, or when the token it was opened with is revoked or expires.
"""

import hashlib
import secrets
from datetime import timedelta
from typing import Literal
from uuid import UUID

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from partnerflow.auth import hash_token, token_owner
from partnerflow.db import utcnow
from partnerflow.default_emails import DEFAULTS
from partnerflow.emails import render
from partnerflow.mail import Mailer
from partnerflow.models import ApiToken, MagicLink, Partner, User, WebSession
from partnerflow.rate_limits import take
from partnerflow.refusals import gone, not_found
from partnerflow.settings import Settings
from partnerflow.transports import PermanentDeliveryError, TemporaryDeliveryError


def start_session(
    session: Session, user: User, settings: Settings, api_token: ApiToken | None = None
) -> str:
    """A new browser session for the user; the cookie value, in clear."""
    # Sessions and links over a day past their end are of no use to anyone: gone.
    stale = utcnow() - timedelta(days=1)
    session.execute(delete(WebSession).where(col(WebSession.expires_at) < stale))
    session.execute(delete(MagicLink).where(col(MagicLink.expires_at) < stale))
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=hash_token(token),
            user_id=user.id,
            api_token_id=api_token.id if api_token else None,
            expires_at=utcnow() + timedelta(hours=settings.session_ttl_hours),
        )
    )
    return token


def session_user(session: Session, token: str) -> User | None:
    """The user of a live session, or None (unknown, ended, expired, user switched off, or
    its token revoked). Whether a partner user's organisation is still active is the
    caller's check (`partnerflow.callers.caller_for`)."""
    row = session.exec(
        select(WebSession, User)
        .join(User, col(User.id) == WebSession.user_id)
        .where(WebSession.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    web_session, user = row
    if web_session.ended_at is not None or web_session.expires_at <= utcnow() or not user.active:
        return None
    if web_session.api_token_id is not None:
        api_token = session.get(ApiToken, web_session.api_token_id)
        if api_token is None or api_token.revoked_at is not None:
            return None
        if api_token.expires_at <= utcnow():
            return None
    return user


def end_access(session: Session, user_id: UUID) -> None:
    """End every browser session and unused sign-in link of the user, now (deactivation).
    The caller revokes the tokens and commits."""
    now = utcnow()
    session.execute(
        update(WebSession)
        .where(col(WebSession.user_id) == user_id, col(WebSession.ended_at).is_(None))
        .values(ended_at=now)
    )
    session.execute(
        update(MagicLink)
        .where(col(MagicLink.user_id) == user_id, col(MagicLink.used_at).is_(None))
        .values(used_at=now)
    )


def end_session(session: Session, token: str) -> None:
    web_session = session.exec(
        select(WebSession).where(WebSession.token_hash == hash_token(token))
    ).first()
    if web_session is not None and web_session.ended_at is None:
        web_session.ended_at = utcnow()
        session.add(web_session)


def csrf_token(session_token: str) -> str:
    """The form token of a session: derived from the cookie, so a foreign page cannot know it."""
    return hashlib.sha256(f"csrf:{session_token}".encode()).hexdigest()


def staff_by_token(session: Session, api_token: str) -> tuple[User, ApiToken] | None:
    """The company user an API token belongs to, and the token (partners sign in by link)."""
    owner = token_owner(session, api_token)
    if owner is None or owner[1].partner_id is not None:
        return None
    return owner[1], owner[0]


def send_magic_links(
    session: Session, mailer: Mailer, settings: Settings, email: str, next_path: str
) -> int:
    """E-mail a sign-in link to every active partner user with this address; how many went.

    The caller answers the same whether or not the address is known, so nobody learns which
    addresses have accounts. An address asked for more than `magic_links_per_hour` times in
    an hour gets nothing more (its mailbox is not flooded), and the links it got still work."""
    address = email.strip().lower()
    asked = take(
        session,
        f"magic-link:{address}",
        limit=settings.magic_links_per_hour,
        window=timedelta(hours=1),
    )
    session.commit()
    if not asked.allowed:
        return 0
    users = session.exec(
        select(User).where(
            User.email == address,
            User.active == True,  # noqa: E712
            col(User.partner_id).is_not(None),
        )
    ).all()
    sent = 0
    for user in users:
        partner = session.get(Partner, user.partner_id)
        if partner is None or partner.status != "active":
            continue
        # The newest few links work, as many as an hour's asking can make: a stranger asking
        # for more cannot kill the link the partner is about to click. Older ones are dead.
        delivery = _send_link(
            session, mailer, settings, user, partner,
            kind="magic_link",
            next_path=next_path,
            lifetime=timedelta(minutes=settings.magic_link_ttl_minutes),
            keep=settings.magic_links_per_hour - 1,
        )  # fmt: skip
        # a failed one: the user can ask again; the failed row is in the outbox
        sent += delivery != "failed"
    return sent


def send_welcome_link(session: Session, mailer: Mailer, settings: Settings, user: User) -> str:
    """E-mail the user a single-use sign-in link: a new account's first sign-in (or one
    switched on again), so nobody but its owner ever holds a credential of theirs. Older
    unused links of the user stop working. Commits; answers the outbox status (`sent`, or
    `queued`/`failed`: send it again)."""
    partner = session.get(Partner, user.partner_id) if user.partner_id else None
    return _send_link(
        session, mailer, settings, user, partner,
        kind="welcome",
        # a company user needs an API token to sign in again later: the account page makes one
        next_path="/portal" if partner else "/account",
        lifetime=timedelta(hours=settings.welcome_link_ttl_hours),
        keep=0,
    )  # fmt: skip


def _send_link(
    session: Session,
    mailer: Mailer,
    settings: Settings,
    user: User,
    partner: Partner | None,
    *,
    kind: Literal["magic_link", "welcome"],
    next_path: str,
    lifetime: timedelta,
    keep: int,
) -> str:
    """A new sign-in link e-mailed to the user (a partner's at the portal, a company user's
    at the staff page); all but the `keep` newest older unused links stop working. Commits
    the link before sending; answers the outbox status, `failed` when delivery failed."""
    _retire_older_links(session, user.id, keep=keep)
    token = secrets.token_urlsafe(32)
    link = MagicLink(
        token_hash=hash_token(token),
        user_id=user.id,
        next_path=next_path,
        expires_at=utcnow() + lifetime,
    )
    session.add(link)
    session.commit()
    base = settings.public_url.rstrip("/")
    url = f"{base}/portal/sign-in/{token}" if partner else f"{base}/sign-in/{token}"
    language = settings.default_language
    source = DEFAULTS[kind][language]
    email_message = render(
        source["subject"],
        source["body_html"],
        None,
        {
            "partner": {"name": partner.name if partner else ""},
            "link": {"url": url, "expires_at": link.expires_at},
            "portal_url": f"{base}/portal",
        },
        language=language,
    )
    try:
        row = mailer.deliver(
            idempotency_key=f"{kind}:{link.id}",
            kind=kind,
            to=[user.email],
            email=email_message,
            # the link is a credential: a provider's copy in the outbox keeps it masked
            secret=token,
        )
    except (PermanentDeliveryError, TemporaryDeliveryError):
        return "failed"  # the failed row is in the outbox
    return row.status


def _retire_older_links(session: Session, user_id: UUID, *, keep: int) -> None:
    """All but the user's `keep` newest unused sign-in links stop working."""
    unused = (col(MagicLink.user_id) == user_id, col(MagicLink.used_at).is_(None))
    retired = update(MagicLink).where(*unused).values(used_at=utcnow())
    if keep > 0:
        newest = session.exec(
            select(MagicLink.id)
            .where(*unused)
            .order_by(col(MagicLink.created_at).desc())
            .limit(keep)
        ).all()
        retired = retired.where(col(MagicLink.id).not_in(newest))
    session.execute(retired)


def usable_link(session: Session, token: str, *, staff: bool = False) -> tuple[MagicLink, User]:
    """The link and its user, if it still signs someone in: a partner user's at the portal,
    a company user's (`staff`) at the staff sign-in page. Refused `not_found` for a link
    unknown here, `gone` for one used, replaced or expired, or whose account was switched off."""
    link = session.exec(select(MagicLink).where(MagicLink.token_hash == hash_token(token))).first()
    if link is None:
        raise not_found("sign-in link")
    user = session.get(User, link.user_id)
    if staff:
        if user is None or user.partner_id is not None:
            raise not_found("sign-in link")  # a partner's link: not on this page
        if link.used_at is not None:
            raise gone("this sign-in link was already used; ask an admin for a new one")
        if link.expires_at <= utcnow():
            raise gone("this sign-in link has expired; ask an admin for a new one")
        if not user.active:
            raise gone("this account is no longer active")
        return link, user
    if link.used_at is not None:
        raise gone("this sign-in link was already used or replaced; ask for a new one")
    if link.expires_at <= utcnow():
        raise gone("this sign-in link has expired; ask for a new one")
    if user is None or not user.active:
        raise gone("this account is no longer active")
    partner = session.get(Partner, user.partner_id) if user.partner_id else None
    if partner is None or partner.status != "active":
        raise gone("your organisation's access has ended")
    return link, user


def redeem_link(
    session: Session, token: str, settings: Settings, *, staff: bool = False
) -> tuple[str, str]:
    """Use the link (once): a new session token and where to go next."""
    link, user = usable_link(session, token, staff=staff)
    # Conditional, so two clicks at the same moment cannot both sign in.
    used = session.execute(
        update(MagicLink)
        .where(col(MagicLink.id) == link.id, col(MagicLink.used_at).is_(None))
        .values(used_at=utcnow())
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise gone("this sign-in link was already used or replaced; ask for a new one")
    return start_session(session, user, settings), link.next_path
