"""Staff absences: a company user away from one moment until another, and who stands in.

One absence per user; setting one replaces it (a new row with a new id), withdrawing deletes
it. Each change starts AbsenceWorkflow for the user (workflows/absence_mover.py), replacing
the one running: it tells the user's running processes when the absence begins (or at once,
for one that has begun, one that replaces another, and a withdrawal). Processes started
during an absence know it from their start (`not_ended`, partnerflow/starting.py). Only ids
and moments go to Temporal.
"""

import asyncio
import logging
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlmodel import Session, col, select
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError

from partnerflow.callers import Caller
from partnerflow.db import utcnow
from partnerflow.models import Absence, User
from partnerflow.refusals import Refused, conflict, forbidden, invalid, not_found
from partnerflow.settings import Settings
from workflows import messages
from workflows.absence_messages import AbsenceChange, AbsenceFannedOut
from workflows.absence_mover import AbsenceWorkflow

log = logging.getLogger(__name__)

# How far ahead an absence may end: a timer of centuries helps nobody.
FURTHEST = timedelta(days=5 * 366)
# How long a request waits for the processes to be told of an absence that has begun (or of
# a withdrawal) before it answers; those left are told by the workflow all the same.
TELLING_WAIT = timedelta(seconds=15)


@dataclass(frozen=True)
class AbsenceRequest:
    """An absence as asked for: aware moments (a naive one is refused, naming its field)."""

    starts_at: datetime
    until: datetime
    substitute_user_id: uuid.UUID


def workflow_id_for(user_id: uuid.UUID) -> str:
    return f"absence-{user_id}"


def not_ended(session: Session, now: datetime) -> list[messages.Absence]:
    """Every absence that has not ended by `now` (running or still to come): what a process
    starting now must know."""
    rows = session.exec(
        select(Absence).where(col(Absence.ends_at) > now).order_by(col(Absence.starts_at))
    )
    return [_message(row) for row in rows]


def of_user(session: Session, caller: Caller, user_id: uuid.UUID) -> Absence:
    """The user's absence (ended ones too, until replaced or withdrawn)."""
    absent_user(session, caller, user_id)
    absence = current(session, user_id)
    if absence is None:
        raise not_found("absence")
    return absence


async def set_absence(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    user_id: uuid.UUID,
    asked: AbsenceRequest,
) -> Absence:
    """Set (or replace) the user's absence and tell their processes when it begins; an
    absence that has begun already is told before the answer (within TELLING_WAIT)."""
    absent_user(session, caller, user_id)
    now = utcnow()
    starts_at = _aware(asked.starts_at, "from")
    ends_at = _aware(asked.until, "until")
    if ends_at <= starts_at:
        raise invalid("until", "the absence must end after it starts")
    if ends_at <= now:
        raise invalid("until", "the absence is over already: choose a moment in the future")
    if ends_at > now + FURTHEST:
        raise invalid("until", "an absence may end at most five years ahead")
    _check_substitute(session, user_id, asked.substitute_user_id, starts_at, ends_at)
    earlier = current(session, user_id)
    absence = Absence(
        user_id=user_id,
        starts_at=starts_at,
        ends_at=ends_at,
        substitute_user_id=asked.substitute_user_id,
    )
    kept = _replace(session, user_id, earlier, absence)
    change = AbsenceChange(
        user_id=user_id,
        absence_id=absence.id,
        absence=_message(absence),
        earlier_substitute_id=earlier.substitute_user_id if earlier else None,
        replaces=earlier is not None,
    )
    try:
        handle = await _start(temporal, settings, change)
    except (RPCError, RPCTimeoutOrCancelledError):
        _replace(session, user_id, absence, kept)  # nothing changed: the caller may try again
        raise
    log.info("absence of user %s set", user_id)
    if starts_at <= now:
        await _told(handle)
        with suppress(InvalidRequestError):  # replaced meanwhile: answered as it was set
            session.refresh(absence)  # `moved_at`, once every process is told
    return absence


async def withdraw(
    session: Session, temporal: Client, settings: Settings, caller: Caller, user_id: uuid.UUID
) -> None:
    """Withdraw the user's absence: the processes that hold it forget it (told before the
    answer, within TELLING_WAIT)."""
    absent_user(session, caller, user_id)
    earlier = current(session, user_id)
    if earlier is None:
        raise not_found("absence")
    kept = _replace(session, user_id, earlier, None)
    change = AbsenceChange(user_id=user_id, earlier_substitute_id=earlier.substitute_user_id)
    try:
        handle = await _start(temporal, settings, change)
    except (RPCError, RPCTimeoutOrCancelledError):
        _replace(session, user_id, None, kept)
        raise
    log.info("absence of user %s withdrawn", user_id)
    await _told(handle)


AbsenceState = Literal["upcoming", "running", "ended"]


def state_of(absence: Absence, now: datetime) -> AbsenceState:
    """`upcoming`, `running` or `ended`, as a person reads it."""
    if now < absence.starts_at:
        return "upcoming"
    return "running" if now < absence.ends_at else "ended"


def absent_user(session: Session, caller: Caller, user_id: uuid.UUID) -> User:
    """The company user whose absence it is; an admin's, or the user's own, business."""
    if not caller.is_admin and caller.user.id != user_id:
        raise forbidden("only an admin or the user themself may see or set their absence")
    user = session.get(User, user_id)
    if user is None:
        raise not_found("user")
    if user.partner_id is not None:
        raise Refused(
            "invalid",
            "absences are for the company's users; this is a partner's user",
            "user_id",
            where="path",
        )
    return user


def _aware(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise invalid(field, "needs a time zone, e.g. 2026-12-01T08:00:00+01:00 or …Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise invalid(field, "is out of range") from None


def _check_substitute(
    session: Session,
    user_id: uuid.UUID,
    substitute_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
) -> None:
    field = "substitute_user_id"
    if substitute_id == user_id:
        raise invalid(field, "someone else must stand in for the user")
    substitute = session.get(User, substitute_id)
    if substitute is None or substitute.partner_id is not None:
        raise invalid(field, "no user of the company with this id")
    if not substitute.active:
        raise invalid(field, "the substitute is deactivated")
    theirs = current(session, substitute_id)
    if (
        theirs is not None
        and theirs.substitute_user_id == user_id
        and theirs.starts_at < ends_at
        and starts_at < theirs.ends_at
    ):
        raise invalid(field, "the substitute is away then with this user standing in for them")


def current(session: Session, user_id: uuid.UUID) -> Absence | None:
    """The user's absence, if one is set (an ended one too, until replaced or withdrawn)."""
    return session.exec(select(Absence).where(Absence.user_id == user_id)).first()


def _replace(
    session: Session, user_id: uuid.UUID, old: Absence | None, new: Absence | None
) -> Absence | None:
    """Put `new` in the place of `old` in one transaction; answers a copy of `old` (to put
    back if Temporal cannot be told). Two changes at once: the later one is a 409."""
    kept = Absence.model_validate(old.model_dump()) if old is not None else None
    if old is not None:
        session.delete(old)
        session.flush()  # the user's one row goes before the next one comes
    if new is not None:
        session.add(new)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise conflict("the absence was changed at the same moment; try again") from None
    if new is not None:
        session.refresh(new)
    return kept


async def _start(temporal: Client, settings: Settings, change: AbsenceChange) -> WorkflowHandle:
    """Start the user's AbsenceWorkflow, ending the one that runs (its news is out of date)."""
    return await temporal.start_workflow(
        AbsenceWorkflow.run,
        change,
        id=workflow_id_for(change.user_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        static_summary="Absence: tell the user's running processes",
        static_details=f"user {change.user_id}, absence {change.absence_id or 'withdrawn'}",
    )


async def _told(handle: WorkflowHandle) -> AbsenceFannedOut | None:
    """The workflow's result once every process is told; None when that takes longer than
    TELLING_WAIT (the workflow carries on)."""
    try:
        result: AbsenceFannedOut = await asyncio.wait_for(
            handle.result(), TELLING_WAIT.total_seconds()
        )
    except (TimeoutError, WorkflowFailureError):  # taking long, or replaced meanwhile
        return None
    return result


def _message(row: Absence) -> messages.Absence:
    return messages.Absence(
        user_id=row.user_id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        substitute_user_id=row.substitute_user_id,
    )
