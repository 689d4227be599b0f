"""Staff absences: a company user away from one moment until another, and who stands in.

One absence per user; setting one replaces it (a new row with a new id), withdrawing deletes
it. Each change starts an AbsenceWorkflow of its own (workflows/absence_mover.py; id
`absence-<user>-<absence row id>`, a withdrawal's `absence-<user>-withdrawn-<uuid>`): it
tells the user's running processes when the absence begins (or at once, for one that has
begun, one that replaces another, and a withdrawal). A run of a change replaced since stops
when it finds its row gone (`substitution.is_current`), so two changes whose starts reach
Temporal in the other order than their commits end with the newer one; nothing is
terminated. A row whose workflow never started (the request died between the commit and
the start) is started by the reconciler once its absence has begun (`unstarted`). Processes
started during an absence know it from their start (`not_ended`, partnerflow/starting.py).
Only ids and moments go to Temporal.

A deactivated user stands in for nobody: deactivating them withdraws the absences that name
them as the substitute (`release_substitute`); steps that had moved to them stay theirs (the
deactivation's answer lists them), steps opening later open for the user back from absence.
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
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from partnerflow import crash_points, substitution
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
# How far back it may start: an absence that began more than a year ago is a typo.
EARLIEST = timedelta(days=366)
# How long a request waits for the processes to be told of an absence that has begun (or of
# a withdrawal) before it answers; those left are told by the workflow all the same.
TELLING_WAIT = timedelta(seconds=15)


@dataclass(frozen=True)
class AbsenceRequest:
    """An absence as asked for: aware moments (a naive one is refused, naming its field)."""

    starts_at: datetime
    until: datetime
    substitute_user_id: uuid.UUID


def workflow_id_for(user_id: uuid.UUID, absence_id: uuid.UUID | None = None) -> str:
    """The AbsenceWorkflow of one change: the absence row it sets, or (None) a withdrawal,
    which gets an id of its own each time."""
    change = absence_id if absence_id is not None else f"withdrawn-{uuid.uuid4()}"
    return f"{workflow_ids_of(user_id)}{change}"


def workflow_ids_of(user_id: uuid.UUID) -> str:
    """What the ids of the user's AbsenceWorkflows begin with."""
    return f"absence-{user_id}-"


def not_ended(session: Session, now: datetime) -> list[messages.Absence]:
    """Every absence that has not ended by `now` (running or still to come): what a process
    starting now must know."""
    rows = session.exec(
        select(Absence).where(col(Absence.ends_at) > now).order_by(col(Absence.starts_at))
    )
    return [substitution.as_message(row) for row in rows]


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
    if starts_at < now - EARLIEST:
        raise invalid("from", "an absence may have begun at most a year ago")
    _check_substitute(session, user_id, asked.substitute_user_id, starts_at, ends_at)
    earlier = current(session, user_id)
    absence = Absence(
        user_id=user_id,
        starts_at=starts_at,
        ends_at=ends_at,
        substitute_user_id=asked.substitute_user_id,
    )
    kept = _replace(session, user_id, earlier, absence)
    crash_points.reached("absence.stored")
    change = AbsenceChange(
        user_id=user_id,
        absence_id=absence.id,
        absence=substitution.as_message(absence),
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
    """Start the change's AbsenceWorkflow, or find it running (the reconciler may have started
    it). One that ran to its end is not run again (`WorkflowAlreadyStartedError`); one that
    failed may be. Runs of older changes are left alone: they stop by themselves."""
    return await temporal.start_workflow(
        AbsenceWorkflow.run,
        change,
        id=workflow_id_for(change.user_id, change.absence_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        static_summary="Absence: tell the user's running processes",
        static_details=f"user {change.user_id}, absence {change.absence_id or 'withdrawn'}",
    )


# repairs ------------------------------------------------------------------------------------


def unstarted(session: Session, begun_before: datetime, now: datetime) -> list[Absence]:
    """Absences that began (and were set) before `begun_before` and are not over, whose steps
    have not moved (`moved_at` empty): perhaps their workflow never started."""
    return list(
        session.exec(
            select(Absence)
            .where(
                col(Absence.moved_at).is_(None),
                col(Absence.starts_at) <= begun_before,
                col(Absence.created_at) <= begun_before,
                col(Absence.ends_at) > now,
            )
            .order_by(col(Absence.starts_at))
        )
    )


async def start_unstarted(temporal: Client, settings: Settings, rows: list[Absence]) -> int:
    """Start the workflow of each absence whose workflow is not running (never started, or
    failed); how many were started. Telling a process twice changes nothing, so one that
    is started here beside a late request does no harm."""
    started = 0
    for row in rows:
        handle = temporal.get_workflow_handle(workflow_id_for(row.user_id, row.id))
        try:
            described = await handle.describe()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        else:
            if described.status == WorkflowExecutionStatus.RUNNING:
                continue
        change = AbsenceChange(
            user_id=row.user_id, absence_id=row.id, absence=substitution.as_message(row)
        )
        try:
            await _start(temporal, settings, change)
        except WorkflowAlreadyStartedError:
            continue  # it ran to its end meanwhile
        log.info("absence %s of user %s: its workflow started again", row.id, row.user_id)
        started += 1
    return started


async def release_substitute(
    session: Session, temporal: Client, settings: Settings, substitute_id: uuid.UUID
) -> list[uuid.UUID]:
    """The user (deactivated) stands in for nobody any more: every absence not over that
    names them as the substitute is withdrawn (their processes told, as a withdrawal is).
    Answers the users whose absence it was."""
    rows = session.exec(
        select(Absence).where(
            Absence.substitute_user_id == substitute_id, col(Absence.ends_at) > utcnow()
        )
    ).all()
    released, handles = [], []
    for row in rows:
        user_id = row.user_id
        kept = _replace(session, user_id, row, None)
        change = AbsenceChange(user_id=user_id, earlier_substitute_id=substitute_id)
        try:
            handles.append(await _start(temporal, settings, change))
        except (RPCError, RPCTimeoutOrCancelledError):
            _replace(session, user_id, None, kept)
            raise
        log.info("absence of user %s withdrawn: its substitute was deactivated", user_id)
        released.append(user_id)
    await asyncio.gather(*(_told(handle) for handle in handles))
    return released


async def _told(handle: WorkflowHandle) -> AbsenceFannedOut | None:
    """The workflow's result once every process is told; None when that takes longer than
    TELLING_WAIT (the workflow carries on)."""
    try:
        result: AbsenceFannedOut = await asyncio.wait_for(
            handle.result(), TELLING_WAIT.total_seconds()
        )
    except (TimeoutError, WorkflowFailureError):  # taking long, or failed (the reconciler's)
        return None
    return result
