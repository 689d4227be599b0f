"""Bulk actions on steps: reassign, move the deadline of, or skip many selected steps at once.

Each step goes through the same service function as one step's call (partnerflow/steps.py),
so the same checks hold per step: the step must be one the caller may see, and the workflow
decides whether the caller may act on it (reassign and skip: the process's contact person or
an admin). One result per step, in the order asked: a refusal (403, 404, 409, 422) or a step
Temporal did not answer for (503) is that step's row, never the whole call's. What is wrong
for every step (no steps, too many, the same step twice, a missing or unusable assignee or
deadline) is refused once, up front, naming the field.

A step named twice is refused (422 naming `items[i]`) rather than answered twice: sent twice,
its second answer would be a puzzling 409. Processes are changed a few at a time (`AT_ONCE`),
each with its own database session, and one process's steps one after the other (its
workflow takes one update at a time anyway): one workflow's slow answer holds up neither the
others nor the rest of the call. Not idempotent: a retry answers 409 for the steps the first
call reassigned or skipped.
"""

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, assert_never

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar
from temporalio.client import Client, RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from partnerflow import steps
from partnerflow.callers import Caller
from partnerflow.models import Process, ProcessStep
from partnerflow.processes import WORKED_ON
from partnerflow.refusals import Refused, http_status, invalid
from partnerflow.settings import Settings
from partnerflow.spec import BoundAssignee

log = logging.getLogger(__name__)

BulkAction = Literal["reassign", "set_deadline", "skip"]
MAX_ITEMS = 500
# Processes changed at once: enough that 300 steps take seconds, few enough that one call
# does not crowd out everyone else's requests to Temporal and the database.
AT_ONCE = 16
UNEXPECTED = "this step could not be changed: an unexpected error (logged); look at the step"


class BulkItem(BaseModel):
    process_id: uuid.UUID
    step_key: str = Field(min_length=1, max_length=64)


class BulkResult(BaseModel):
    process_id: uuid.UUID
    step_key: str
    # the HTTP status the single step's call would have answered
    status: int
    detail: str


@dataclass(frozen=True)
class Reassign:
    assignee: BoundAssignee


@dataclass(frozen=True)
class SetDeadline:
    due_at: str


@dataclass(frozen=True)
class Skip:
    reason: str


Change = Reassign | SetDeadline | Skip


def checked_change(
    session: Session,
    action: BulkAction,
    *,
    assignee: BoundAssignee | None,
    due_at: str | None,
    reason: str,
) -> Change:
    """The change asked for, checked once for all its steps: each action's own field given,
    another action's not (it would be ignored without a word), the assignee an active partner
    or company user, the deadline a date or datetime."""
    given = {"assignee": assignee is not None, "due_at": bool(due_at), "reason": bool(reason)}
    takes: dict[BulkAction, set[str]] = {
        "reassign": {"assignee"},
        "set_deadline": {"due_at"},
        "skip": {"reason"},
    }
    for field, present in given.items():
        if present and field not in takes[action]:
            raise invalid(field, f"{action} takes no {field}")
    match action:
        case "reassign":
            if assignee is None:
                raise invalid("assignee", "say who gets the steps")
            steps.check_assignee(session, assignee)
            return Reassign(assignee)
        case "set_deadline":
            if not due_at:
                raise invalid("due_at", "give the new deadline")
            return SetDeadline(steps.checked_due(due_at))
        case "skip":
            return Skip(steps.checked_reason(reason))
        case _:
            assert_never(action)


def check_items(items: Sequence[BulkItem]) -> None:
    """Between one and MAX_ITEMS steps, each once: a step named twice is refused rather than
    sent twice (its second answer would be a puzzling 409)."""
    if not items:
        raise invalid("items", "select at least one step")
    if len(items) > MAX_ITEMS:
        raise invalid("items", f"at most {MAX_ITEMS} steps at once, not {len(items)}")
    first: dict[tuple[uuid.UUID, str], int] = {}
    for index, item in enumerate(items):
        seen = first.setdefault((item.process_id, item.step_key), index)
        if seen != index:
            raise invalid(["items", index], f"the same step as items[{seen}]: name each once")


async def apply(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    change: Change,
    items: Sequence[BulkItem],
) -> list[BulkResult]:
    """Make the change to each step (checked by `checked_change` and `check_items`), a few
    at a time; one result per step, in the order of `items`."""
    check_items(items)
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    session.rollback()  # hold no read transaction (SQLite's lock) while the workflows write
    # One process's steps one after the other: its workflow takes one update at a time
    # anyway, and the processes in flight are then AT_ONCE different ones.
    by_process: dict[uuid.UUID, list[int]] = {}
    for index, item in enumerate(items):
        by_process.setdefault(item.process_id, []).append(index)
    results: list[BulkResult | None] = [None] * len(items)
    gate = asyncio.Semaphore(AT_ONCE)

    async def one_process(indexes: list[int]) -> None:
        async with gate:
            with Session(engine, expire_on_commit=False) as own:
                for index in indexes:
                    results[index] = await _change_step(
                        own, temporal, settings, caller, change, items[index]
                    )

    await asyncio.gather(*(one_process(indexes) for indexes in by_process.values()))
    return [result for result in results if result is not None]


async def _change_step(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    change: Change,
    item: BulkItem,
) -> BulkResult:
    def result(status: int, detail: str) -> BulkResult:
        return BulkResult(
            process_id=item.process_id, step_key=item.step_key, status=status, detail=detail
        )

    try:
        step = steps.step_of(session, caller, item.process_id, item.step_key)
        match change:
            case Reassign(assignee=assignee):
                await steps.reassign(session, temporal, settings, caller, step, assignee)
                return result(200, "reassigned")
            case SetDeadline(due_at=due_at):
                await steps.set_deadline(session, temporal, settings, caller, step, due_at)
                return result(200, "deadline moved")
            case Skip(reason=reason):
                await steps.skip(session, temporal, settings, caller, step, reason)
                return result(200, "skipped")
            case _:
                assert_never(change)
    except Refused as refused:
        return result(http_status(refused.kind), refused.message)
    except (RPCError, RPCTimeoutOrCancelledError) as error:
        # As the single call answers (api/main.py); a retry of this step alone is safe.
        log.warning("bulk: process %s not reached: %s", item.process_id, error)
        return result(503, "Temporal did not answer; try this step again")
    except Exception:
        # One step's surprise is that step's row: the others' changes stand and are reported.
        log.exception("bulk: step %s of process %s failed", item.step_key, item.process_id)
        session.rollback()  # the process's next step starts on a clean session
        return result(500, UNEXPECTED)


# the dashboard's selection ------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """Whose open steps a selection takes: a partner's, or a company user's."""

    kind: Literal["partner", "user"]
    id: uuid.UUID

    @classmethod
    def from_choice(cls, choice: str) -> "Holder | None":
        """`partner:<id>` or `user:<id>` (a select's value); None for "anyone"."""
        if not choice:
            return None
        kind, _, value = choice.partition(":")
        try:
            holder_id = uuid.UUID(value)
        except ValueError:
            raise invalid("holder", "choose a partner or a user") from None
        match kind:
            case "partner" | "user":
                return cls(kind, holder_id)
            case _:
                raise invalid("holder", "choose a partner or a user")

    @property
    def choice(self) -> str:
        return f"{self.kind}:{self.id}"


def _held(holder: Holder) -> ColumnElement[bool]:
    """An open step's: with the holder (its assignee), or in review."""
    match holder.kind:
        case "partner":
            held = col(ProcessStep.assignee_partner_id) == holder.id
        case "user":
            held = col(ProcessStep.assignee_user_id) == holder.id
        case _:
            assert_never(holder.kind)
    return and_(col(ProcessStep.status).in_(WORKED_ON), held)


def processes_held_by(holder: Holder) -> SelectOfScalar[uuid.UUID]:
    """The ids of processes with an open step of the holder's (a subquery)."""
    return select(ProcessStep.process_id).where(_held(holder))


def open_steps(
    session: Session,
    *,
    holder: Holder | None,
    contact_user_id: uuid.UUID | None,
    test: bool,
) -> list[BulkItem]:
    """The open steps (with their assignee, or in review) of running processes that the
    dashboard's filter shows: the holder's, of the contact person's processes, test runs or
    not. At most MAX_ITEMS + 1: one more than a call takes says the filter is too wide."""
    statement = (
        select(ProcessStep.process_id, ProcessStep.key)
        .join(Process, col(Process.id) == ProcessStep.process_id)
        .where(
            col(ProcessStep.status).in_(WORKED_ON),
            Process.status == "running",
            Process.test == test,
        )
    )
    if holder is not None:
        statement = statement.where(_held(holder))
    if contact_user_id is not None:
        statement = statement.where(Process.contact_user_id == contact_user_id)
    rows = session.exec(
        statement.order_by(col(Process.started_at), col(ProcessStep.position)).limit(MAX_ITEMS + 1)
    )
    return [BulkItem(process_id=process_id, step_key=key) for process_id, key in rows]
