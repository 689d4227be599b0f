"""Calendar feeds: a user's revocable URL (`/calendar/{token}.ics`) of the deadlines and
appointments of the steps they may see.

What a feed holds, bounded: open steps (active, or in review) of running processes that are not
test runs, with a deadline from 30 days ago to 90 days ahead, soonest first, at most 500.
- A partner's user: its organisation's steps, nothing else (as the portal shows them).
- A company user, admins included: the steps of the processes they are the contact person of,
  the steps assigned to them, and those waiting for their review. Not every process for an
  admin: a feed is someone's own calendar, the dashboard shows everything, and a leaked feed
  URL then shows no more than its owner's work.
A user switched off, or whose partner is no longer active, has no feed (404), as has a revoked
token. The token is random (256 bits), shown once in the URL and kept only as its SHA-256; a
new feed revokes the user's earlier one. The events are those of e-mails' .ics (same UID and
SEQUENCE, partnerflow/calendar.py), published (METHOD:PUBLISH), without organizer or attendees.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from partnerflow.auth import hash_token
from partnerflow.calendar import StepEvent, calendar_file, sequenced, step_url
from partnerflow.callers import Caller, caller_for
from partnerflow.db import utcnow
from partnerflow.models import (
    CalendarFeed,
    Process,
    ProcessStep,
    ProcessTemplate,
    ProcessTemplateVersion,
    User,
)
from partnerflow.refusals import not_found
from partnerflow.settings import Settings

FEED_PREFIX = "pfcal_"
FEED_BEHIND = timedelta(days=30)
FEED_AHEAD = timedelta(days=90)
FEED_LIMIT = 500


@dataclass(frozen=True)
class IssuedFeed:
    row: CalendarFeed
    url: str  # holds the token in clear: shown once, stored nowhere


def feed_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/calendar/{token}.ics"


def current(session: Session, user: User) -> CalendarFeed | None:
    """The user's live feed, if they have one."""
    return session.exec(
        select(CalendarFeed).where(
            CalendarFeed.user_id == user.id, col(CalendarFeed.revoked_at).is_(None)
        )
    ).first()


def create(session: Session, settings: Settings, user: User) -> IssuedFeed:
    """A new feed for the user; their earlier one stops working. Committed."""
    _revoke_all(session, user)
    token = FEED_PREFIX + secrets.token_urlsafe(32)
    row = CalendarFeed(user_id=user.id, token_hash=hash_token(token))
    session.add(row)
    session.commit()
    return IssuedFeed(row=row, url=feed_url(settings, token))


def revoke(session: Session, user: User) -> None:
    """The user's feed stops working (404 from then on). Committed."""
    if _revoke_all(session, user) == 0:
        raise not_found("calendar feed")
    session.commit()


def _revoke_all(session: Session, user: User) -> int:
    result: Any = session.execute(
        update(CalendarFeed)
        .where(col(CalendarFeed.user_id) == user.id, col(CalendarFeed.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount)


def feed_file(session: Session, settings: Settings, token: str) -> bytes:
    """The .ics the feed with this token serves now; `not_found` for a token that is unknown
    or revoked, or whose user may no longer sign in. The caller commits (the SEQUENCEs)."""
    owner = _owner(session, token)
    if owner is None:
        raise not_found("calendar feed")
    now = utcnow()
    events = feed_events(session, owner, settings.public_url, now)
    given = sequenced(session, events, now)
    return calendar_file(
        [(event, given[event.key]) for event in events], "PUBLISH", name="Partnerflow"
    )


def _owner(session: Session, token: str) -> Caller | None:
    if not token.startswith(FEED_PREFIX):
        return None
    found = session.exec(
        select(User)
        .join(CalendarFeed, col(CalendarFeed.user_id) == User.id)
        .where(CalendarFeed.token_hash == hash_token(token), col(CalendarFeed.revoked_at).is_(None))
    ).first()
    if found is None or not found.active:
        return None
    return caller_for(session, found)


def feed_events(
    session: Session, caller: Caller, public_url: str, now: datetime
) -> list[StepEvent]:
    """The events of the steps the caller's feed holds (the module's docstring says which)."""
    if caller.partner_id is not None:
        theirs = col(ProcessStep.assignee_partner_id) == caller.partner_id
    else:
        user_id = caller.user.id
        theirs = or_(
            col(Process.contact_user_id) == user_id,
            col(ProcessStep.assignee_user_id) == user_id,
            and_(
                col(ProcessStep.status) == "in_review",
                col(ProcessStep.reviewer_user_id) == user_id,
            ),
        )
    rows = session.exec(
        select(ProcessStep.process_id, ProcessStep.key, ProcessStep.name, ProcessStep.due_at)
        .join(Process, col(Process.id) == ProcessStep.process_id)
        .where(
            col(ProcessStep.status).in_(("active", "in_review")),
            col(ProcessStep.due_at) >= now - FEED_BEHIND,
            col(ProcessStep.due_at) <= now + FEED_AHEAD,
            Process.status == "running",
            col(Process.test).is_(False),
            theirs,
        )
        .order_by(col(ProcessStep.due_at), col(ProcessStep.process_id), col(ProcessStep.key))
        .limit(FEED_LIMIT)
    ).all()
    zones = _timezones(session, {process_id for process_id, *_ in rows})
    partner = caller.partner_id is not None
    return [
        StepEvent(
            process_id=process_id,
            step_key=key,
            step_name=name,
            due_at=due_at,
            timezone=zones[process_id],
            url=step_url(public_url, process_id, key, partner=partner),
        )
        for process_id, key, name, due_at in rows
        if due_at is not None
    ]


def _timezones(session: Session, process_ids: set[UUID]) -> dict[UUID, str]:
    """Each process's time zone, as its e-mails have it: the one of the version it runs on,
    the template's for a test run of a draft (version 0)."""
    if not process_ids:
        return {}
    snapshot_zone = col(ProcessTemplateVersion.snapshot)["timezone"].as_string()
    rows = session.exec(
        select(Process.id, snapshot_zone, ProcessTemplate.timezone)
        .join(ProcessTemplate, col(ProcessTemplate.id) == Process.template_id)
        .outerjoin(
            ProcessTemplateVersion,
            and_(
                col(ProcessTemplateVersion.template_id) == Process.template_id,
                col(ProcessTemplateVersion.version) == Process.template_version,
            ),
        )
        .where(col(Process.id).in_(process_ids))
    ).all()
    return {process_id: zone or template_zone for process_id, zone, template_zone in rows}
