"""A process's steps: complete, skip, move the deadline, reassign, review, decline; their
comments and documents; and the open steps that are a caller's work.

An update acts on a step found once (`step_of`); whether the caller may act on it is the
workflow's call (another partner's step in a process the caller sees: `forbidden`).
"""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, assert_never

import sqlalchemy
from pydantic import BaseModel
from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select
from temporalio.client import Client

from partnerflow import notes, substitution
from partnerflow.callers import Caller
from partnerflow.db import unindexed, utcnow
from partnerflow.models import (
    Comment,
    Document,
    NoteKind,
    Opportunity,
    Process,
    ProcessStep,
    User,
)
from partnerflow.partner_status import unbindable
from partnerflow.processes import (
    DocumentPublic,
    ProcessDetail,
    updated_detail,
    visible_process,
    with_note,
)
from partnerflow.refusals import forbidden, invalid, not_found
from partnerflow.settings import Settings
from partnerflow.spec import BoundAssignee, ContactAssignee, PartnerAssignee, UserAssignee
from partnerflow.storage import DocumentStorage
from workflows.messages import (
    CompleteStepInput,
    DeclineStepInput,
    ReassignInput,
    ReviewDecision,
    ReviewStepInput,
    SetDeadlineInput,
    SkipStepInput,
)
from workflows.partner_process import PartnerProcessWorkflow

MAX_YEARS_AHEAD = 10  # a deadline further out is a typo
# the namespace of the ids of reasons stored under an Idempotency-Key (`_reason_note`)
NOTE_IDS = uuid.UUID("0c5f6b4e-2d1a-4f3e-9b7a-5e8d1c2b3a40")


class CommentPublic(BaseModel):
    id: uuid.UUID
    step_key: str
    author_id: uuid.UUID
    author_name: str
    body: str
    created_at: datetime


# `step`: the caller's to do; `review`: the caller's to approve or send back
TaskKind = Literal["step", "review"]


class Task(BaseModel):
    process_id: uuid.UUID
    step_key: str
    step_name: str
    kind: TaskKind = "step"
    due_at: datetime | None = None
    overdue: bool = False
    activated_at: datetime | None
    customer_name: str | None
    customer_address: dict[str, Any] | None


@dataclass(frozen=True)
class StepRef:
    """A step of a process the caller may see (from `step_of`): what a step's update acts on."""

    process: Process
    key: str


def step_of(session: Session, caller: Caller, process_id: uuid.UUID, key: str) -> StepRef:
    """The step, in a process the caller may see; any assignee's (the workflow decides who may
    act on it)."""
    process = visible_process(session, caller, process_id)
    exists = session.exec(
        select(ProcessStep.id).where(ProcessStep.process_id == process_id, ProcessStep.key == key)
    ).first()
    if exists is None:
        raise not_found("step")
    return StepRef(process, key)


def visible_step(session: Session, caller: Caller, process_id: uuid.UUID, key: str) -> ProcessStep:
    """The step, if the caller may see it: a partner sees only its own organisation's steps."""
    visible_process(session, caller, process_id)
    step = session.exec(
        select(ProcessStep).where(ProcessStep.process_id == process_id, ProcessStep.key == key)
    ).first()
    if step is None or (
        caller.partner_id is not None and step.assignee_partner_id != caller.partner_id
    ):
        raise not_found("step")
    return step


async def _updated(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    step: StepRef,
    update: Any,
    payload: Any,
    update_id: str | None = None,
) -> ProcessDetail:
    return await updated_detail(
        session, temporal, settings, caller, step.process,
        lambda handle: handle.execute_update(update, payload, id=update_id),
    )  # fmt: skip


async def complete(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    step: StepRef,
    fields: dict[str, Any],
    update_id: str | None = None,
) -> ProcessDetail:
    """Finish the step with its fields' values (the workflow checks them). `update_id`: a
    retry with the same id finds the first update instead of sending a second."""
    payload = CompleteStepInput(step_key=step.key, actor=caller.actor(), fields=fields)
    return await _updated(
        session, temporal, settings, caller, step,
        PartnerProcessWorkflow.complete_step, payload, update_id,
    )  # fmt: skip


async def skip(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    step: StepRef,
    reason: str,
) -> ProcessDetail:
    """Skip the step; a reason is stored here and the workflow gets its id."""
    reason = checked_reason(reason)
    note_id = None
    if reason:
        note_id = notes.write(
            session, process_id=step.process.id, step_key=step.key, kind="skip_reason",
            author_id=caller.user.id, body=reason,
        )  # fmt: skip
    payload = SkipStepInput(step_key=step.key, actor=caller.actor(), note_id=note_id)
    return await _noted_update(
        session, temporal, settings, caller, step, note_id,
        PartnerProcessWorkflow.skip_step, payload,
    )  # fmt: skip


def checked_reason(reason: str) -> str:
    """A reason as it is stored: without the blanks around it, and no NUL character (no
    database column takes one): `invalid` naming `reason`."""
    if "\x00" in reason:
        raise invalid("reason", "contains a NUL character (\\u0000): remove it")
    return reason.strip()


def checked_due(due_at: str) -> str:
    """`due_at` as the workflow takes it: an ISO 8601 date or datetime it can compute with."""
    try:
        due = date.fromisoformat(due_at) if len(due_at) == 10 else datetime.fromisoformat(due_at)
    except ValueError:
        raise invalid(
            "due_at", "not an ISO 8601 date (2026-12-11) or datetime (2026-12-11T14:00+01:00)"
        ) from None
    # Only what the calendar arithmetic cannot take; a date in the past is the workflow's call.
    if not 2000 <= due.year <= utcnow().year + MAX_YEARS_AHEAD:
        raise invalid("due_at", f"must lie within the next {MAX_YEARS_AHEAD} years")
    return due_at


async def set_deadline(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    step: StepRef,
    due_at: str,
) -> ProcessDetail:
    """Move the step's deadline to `due_at`: an ISO 8601 date (the end of that day in the
    template's time zone) or datetime."""
    payload = SetDeadlineInput(step_key=step.key, actor=caller.actor(), due=checked_due(due_at))
    return await _updated(
        session, temporal, settings, caller, step, PartnerProcessWorkflow.set_deadline, payload
    )


def check_assignee(session: Session, assignee: BoundAssignee) -> None:
    """Refuse a step's new assignee that is not an active partner or company user (a bulk
    reassignment asks once for all its steps)."""
    match assignee:
        case PartnerAssignee(partner_id=partner_id):
            problem = unbindable(session, partner_id)
            if problem:
                raise invalid(["assignee", "partner_id"], problem)
        case UserAssignee(user_id=user_id):
            user = session.get(User, user_id)
            if user is None or user.partner_id is not None or not user.active:
                raise invalid(["assignee", "user_id"], "no active user of the company with this id")
        case ContactAssignee():
            pass
        case _:
            assert_never(assignee)


async def reassign(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    step: StepRef,
    assignee: BoundAssignee,
) -> ProcessDetail:
    """Hand the step to an active partner, an active company user or the contact person. A
    user who is away (or will be): the process learns the absence first (it may not name the
    user yet, so it was not told), and the step opens for whoever stands in."""
    check_assignee(session, assignee)
    if isinstance(assignee, UserAssignee):
        absences = substitution.standing_in_for(session, assignee.user_id, utcnow())
        if absences:
            session.rollback()  # hold no read transaction (SQLite's lock) while it writes
            # Not reached or refused: the reassignment's own answer says so.
            await substitution.tell_in_turn(temporal, step.process.id, absences)
    payload = ReassignInput(step_key=step.key, actor=caller.actor(), assignee=assignee)
    return await _updated(
        session, temporal, settings, caller, step, PartnerProcessWorkflow.reassign, payload
    )


def _reason_note(
    session: Session,
    caller: Caller,
    step: StepRef,
    kind: NoteKind,
    body: str,
    *,
    partner_id: uuid.UUID | None,
    update_id: str | None,
) -> uuid.UUID:
    """A reason stored before the workflow hears of its id; under an Idempotency-Key
    (`update_id`) its id follows from the key, so a retry finds the first try's note.
    `partner_id`: the partner whose scorecard the note counts on."""
    return notes.write(
        session, process_id=step.process.id, step_key=step.key, kind=kind,
        author_id=caller.user.id, body=body, partner_id=partner_id,
        note_id=uuid.uuid5(NOTE_IDS, f"{caller.user.id}:{update_id}") if update_id else None,
    )  # fmt: skip


async def _noted_update(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    step: StepRef,
    note_id: uuid.UUID | None,
    update: Any,
    payload: BaseModel,
    update_id: str | None = None,
) -> ProcessDetail:
    """An update that names a note stored just before: a refused update takes its note with
    it (`with_note`)."""
    return await with_note(
        session, note_id,
        lambda: _updated(session, temporal, settings, caller, step, update, payload, update_id),
    )  # fmt: skip


async def review(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    step: StepRef,
    decision: ReviewDecision,
    reason: str,
    due: str | None,
    update_id: str | None = None,
) -> ProcessDetail:
    """The reviewer's answer to a step `in_review` (who may answer, and how often changes may
    be requested, is the workflow's call): `approve` completes it; `request_changes` hands it
    back to its assignee with the reason (required), which the read model and the e-mail
    quote; `due` may move the deadline in the same call (else it keeps running). An
    approval may carry a remark: stored as a note like a reason, its id sent with the answer."""
    reason = checked_reason(reason)
    if decision == "request_changes" and not reason:
        raise invalid("reason", "say what needs to change: the assignee reads it")
    if decision == "approve" and due is not None:
        raise invalid("due_at", "an approved step is done: a new deadline comes only with changes")
    moved_due = checked_due(due) if due is not None else None
    note_id = None
    if reason:
        # A request for changes counts on the scorecard of the partner whose work it was; an
        # approval's remark on nobody's.
        assignee = _assignee_partner(session, step) if decision == "request_changes" else None
        note_id = _reason_note(
            session, caller, step, "review_reason", reason,
            partner_id=assignee, update_id=update_id,
        )  # fmt: skip
    payload = ReviewStepInput(
        step_key=step.key, actor=caller.actor(), decision=decision, note_id=note_id,
        due=moved_due,
    )  # fmt: skip
    return await _noted_update(
        session, temporal, settings, caller, step, note_id,
        PartnerProcessWorkflow.review_step, payload, update_id,
    )  # fmt: skip


async def decline(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    step: StepRef,
    reason: str,
    update_id: str | None = None,
) -> ProcessDetail:
    """A partner hands its active step back with a reason (required): the step goes to the
    contact person, who is told; the partner no longer sees it."""
    reason = checked_reason(reason)
    if not reason:
        raise invalid("reason", "say why you hand the step back: the contact person reads it")
    if caller.partner_id is None:
        raise forbidden("only the partner a step is assigned to may decline it")
    note_id = _reason_note(
        session, caller, step, "decline_reason", reason,
        partner_id=caller.partner_id, update_id=update_id,
    )  # fmt: skip
    payload = DeclineStepInput(step_key=step.key, actor=caller.actor(), note_id=note_id)
    return await _noted_update(
        session, temporal, settings, caller, step, note_id,
        PartnerProcessWorkflow.decline_step, payload, update_id,
    )  # fmt: skip


def _assignee_partner(session: Session, step: StepRef) -> uuid.UUID | None:
    return session.exec(
        select(ProcessStep.assignee_partner_id).where(
            ProcessStep.process_id == step.process.id, ProcessStep.key == step.key
        )
    ).first()


# comments ---------------------------------------------------------------------------------


def add_comment(
    session: Session, caller: Caller, process_id: uuid.UUID, step_key: str, body: str
) -> CommentPublic:
    visible_step(session, caller, process_id, step_key)
    comment = Comment(
        process_id=process_id,
        step_key=step_key,
        author_id=caller.user.id,
        author_name=caller.user.name,
        body=body,
    )
    session.add(comment)
    session.commit()
    return CommentPublic(**comment.model_dump())


def comments(
    session: Session, caller: Caller, process_id: uuid.UUID, step_key: str
) -> list[CommentPublic]:
    visible_step(session, caller, process_id, step_key)
    rows = session.exec(
        select(Comment)
        .where(Comment.process_id == process_id, Comment.step_key == step_key)
        .order_by(col(Comment.created_at))
    )
    return [CommentPublic(**c.model_dump()) for c in rows]


# documents (an upload: partnerflow/uploads.py) --------------------------------------------


@dataclass(frozen=True)
class DocumentFile:
    """A stored document as a download serves it."""

    path: Path
    content_type: str
    filename: str


def _may_view_documents(caller: Caller) -> None:
    if not caller.may("documents:view"):
        raise forbidden("your organisation may not view documents (documents:view)")


def documents(
    session: Session, caller: Caller, process_id: uuid.UUID, step_key: str
) -> list[DocumentPublic]:
    visible_step(session, caller, process_id, step_key)
    _may_view_documents(caller)
    rows = session.exec(
        select(Document)
        .where(
            Document.process_id == process_id,
            Document.step_key == step_key,
            Document.status == "attached",
        )
        .order_by(col(Document.created_at))
    )
    return [DocumentPublic(**d.model_dump()) for d in rows]


def document_file(
    session: Session,
    settings: Settings,
    caller: Caller,
    process_id: uuid.UUID,
    document_id: uuid.UUID,
) -> DocumentFile:
    document = session.get(Document, document_id)
    if document is None or document.process_id != process_id or document.status != "attached":
        raise not_found("document")
    visible_step(session, caller, process_id, document.step_key)
    _may_view_documents(caller)
    return DocumentFile(
        path=DocumentStorage(settings.storage_dir).path(document.storage_key),
        content_type=document.content_type,
        filename=document.filename,
    )


# the caller's work ------------------------------------------------------------------------


def open_tasks(
    session: Session, caller: Caller, test: bool, limit: int, offset: int = 0
) -> tuple[list[Task], int]:
    """The open steps of running processes that are the caller's (its organisation's, for a
    partner) to do, and those in review that are the caller's to answer, soonest deadline
    first: a page of them, and how many there are in all. A step in
    review is not its assignee's work until it comes back. Test runs only when `test` asks
    for them, and then only them: a try is not work to do.

    The page is chosen from the steps and their processes alone, then only its rows are read
    with their customer case: sorting every open step with its opportunity (a partner with
    1,000 of them) took twice as long (bench/lists.py). Only the columns a task shows are
    read: whole rows decoded five JSON columns each, for a name and an address."""
    if caller.partner_id is not None:
        to_do = col(ProcessStep.assignee_partner_id) == caller.partner_id
    else:
        to_do = col(ProcessStep.assignee_user_id) == caller.user.id
    mine = (
        select(ProcessStep.id)
        .join(Process, col(Process.id) == ProcessStep.process_id)
        .where(
            or_(
                and_(col(ProcessStep.status) == "active", to_do),
                and_(
                    col(ProcessStep.status) == "in_review",
                    col(ProcessStep.reviewer_user_id) == caller.user.id,
                ),
            ),
            # from the caller's steps, not from every running process (partnerflow/db.py)
            unindexed(Process.status) == "running",
            Process.test == test,
        )
    )
    count = session.exec(select(func.count()).select_from(mine.subquery())).one()
    chosen = mine.order_by(*_soonest_first()).limit(limit).offset(offset)
    rows = session.execute(
        sqlalchemy.select(
            col(ProcessStep.process_id),
            col(ProcessStep.key),
            col(ProcessStep.name),
            col(ProcessStep.status),
            col(ProcessStep.due_at),
            col(ProcessStep.overdue),
            col(ProcessStep.activated_at),
            col(Opportunity.customer),
        )
        .join(Process, col(Process.id) == ProcessStep.process_id)
        .join(Opportunity, col(Opportunity.id) == Process.opportunity_id)
        .where(col(ProcessStep.id).in_(chosen))
        .order_by(*_soonest_first())
    )
    tasks = [
        Task(
            process_id=process_id,
            step_key=key,
            step_name=name,
            kind="review" if status == "in_review" else "step",
            due_at=due_at,
            overdue=overdue,
            activated_at=activated_at,
            customer_name=customer.get("name"),
            customer_address=customer.get("address"),
        )
        for process_id, key, name, status, due_at, overdue, activated_at, customer in rows
    ]
    return tasks, count


def _soonest_first() -> tuple[Any, ...]:
    """Soonest deadline first; steps without one after them, oldest first."""
    return (
        col(ProcessStep.due_at).is_(None),
        col(ProcessStep.due_at),
        col(ProcessStep.activated_at),
    )
