"""Processes as callers see them: who may see which, the read model's lists and detail, and
updates sent to a process's workflow (cancel here; a step's in partnerflow/steps.py).

Names and reasons live in the database, not in Temporal: the detail resolves them by id.
"""

import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, true
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from partnerflow import notes
from partnerflow.assignees import names_of
from partnerflow.callers import Caller
from partnerflow.forecast import StepRisk
from partnerflow.models import Document, Opportunity, Process, ProcessNote, ProcessStep
from partnerflow.refusals import Refused, conflict, forbidden, not_found
from partnerflow.settings import Settings
from workflows.messages import CancelInput, ProcessState
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for

PARTNER_CUSTOMER_FIELDS = ("name", "phone", "address")
# the open steps someone works on now: the assignee, or the reviewer (not those pending)
WORKED_ON = ("active", "in_review")

Handle = WorkflowHandle[PartnerProcessWorkflow, Any]
# `risk`: the highest late probability of an open step first, processes without one last
ProcessSort = Literal["started_at", "-started_at", "next_due_at", "risk"]
Update = Callable[[Handle], Awaitable[ProcessState]]


class OpenStep(BaseModel):
    key: str
    name: str
    # `active` with its assignee, or `in_review` with its reviewer
    status: str = "active"
    due_at: datetime | None = None
    overdue: bool = False


class ProcessSummary(BaseModel):
    id: uuid.UUID
    template_id: uuid.UUID
    template_version: int
    opportunity_id: uuid.UUID
    contact_user_id: uuid.UUID
    status: str
    test: bool
    started_at: datetime
    completed_at: datetime | None
    cancel_reason: str | None = None
    open_steps: list[OpenStep]
    next_due_at: datetime | None = None
    # Something failed for good (an e-mail, a write): a person should look, and why. Staff
    # only: the reason is internal and may name other partners' steps (None for a partner).
    attention: bool | None = False
    attention_reason: str | None = None


class DocumentPublic(BaseModel):
    id: uuid.UUID
    step_key: str
    type: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: uuid.UUID
    created_at: datetime


class StepPublic(BaseModel):
    key: str
    name: str
    status: str
    assignee: dict[str, Any]
    due_at: datetime | None = None
    overdue: bool = False
    activated_at: datetime | None
    completed_by: dict[str, Any] | None
    completed_at: datetime | None
    fields: dict[str, Any]
    documents: list[DocumentPublic] = Field(default_factory=list)
    # the forecast of an open step with a deadline (partnerflow/forecast.py); staff only
    risk: StepRisk | None = None
    # review (StepSpec.review): who answers while the step is `in_review`, how often changes
    # were requested so far, and why the newest time while the step is back with its assignee
    reviewer_user_id: uuid.UUID | None = None
    reviewer_name: str | None = None
    review_rounds: int = 0
    changes_requested_reason: str | None = None


class ProcessDetail(ProcessSummary):
    # the customer, for the work: partners see name, phone and address, not more
    customer: dict[str, Any] = Field(default_factory=dict)
    steps: list[StepPublic]
    timeline: list[dict[str, Any]]
    temporal_url: str | None = None


# who sees what --------------------------------------------------------------------------


def visible_process(session: Session, caller: Caller, process_id: uuid.UUID) -> Process:
    """The process, if the caller may see it: a partner sees only processes with its steps."""
    process = session.get(Process, process_id)
    if process is None:
        raise not_found("process")
    if caller.partner_id is not None:
        mine = session.exec(
            select(ProcessStep.id).where(
                ProcessStep.process_id == process_id,
                ProcessStep.assignee_partner_id == caller.partner_id,
            )
        ).first()
        if mine is None:
            raise not_found("process")
    return process


# the read model ---------------------------------------------------------------------------


def overdue_process_ids() -> SelectOfScalar[uuid.UUID]:
    """The ids of processes with an open step past its deadline (a subquery): one with its
    assignee, or one whose review holds it up."""
    # `= true`, which the index (overdue, status, process_id) answers (migration 0021)
    return select(ProcessStep.process_id).where(
        col(ProcessStep.overdue) == true(), col(ProcessStep.status).in_(WORKED_ON)
    )


def highest_risk() -> Any:
    """Each process's highest late probability among its open steps (a subquery)."""
    return (
        select(
            ProcessStep.process_id,
            func.max(ProcessStep.late_probability).label("late_probability"),
        )
        .where(ProcessStep.status == "active", col(ProcessStep.late_probability).is_not(None))
        .group_by(col(ProcessStep.process_id))
        .subquery()
    )


def step_risk(step: ProcessStep) -> StepRisk | None:
    """The step's forecast while it is open with a deadline and has been forecast."""
    if step.status != "active" or step.due_at is None or step.risk_basis is None:
        return None
    return StepRisk(
        late_probability=step.late_probability,
        expected_done_at=step.expected_done_at,
        basis=step.risk_basis,
    )


def listed(
    caller: Caller,
    *,
    status: Literal["running", "completed", "cancelled"] | None,
    template_id: uuid.UUID | None,
    opportunity_id: uuid.UUID | None,
    partner_id: uuid.UUID | None,
    overdue: bool | None,
    attention: bool | None,
    test: bool,
    sort: ProcessSort,
) -> SelectOfScalar[Process]:
    """The processes the caller may see that match, as a statement to page through. Test runs
    only when `test` asks for them, and then only them. The forecast is for staff: a partner
    may not sort by it."""
    statement = select(Process).where(Process.test == test)
    if status:
        statement = statement.where(Process.status == status)
    if template_id:
        statement = statement.where(Process.template_id == template_id)
    if opportunity_id:
        statement = statement.where(Process.opportunity_id == opportunity_id)
    for pid in (partner_id, caller.partner_id):
        if pid is not None:
            statement = statement.where(
                col(Process.id).in_(
                    select(ProcessStep.process_id).where(ProcessStep.assignee_partner_id == pid)
                )
            )
    if attention is not None:  # something failed for good: an e-mail, a write
        statement = statement.where(Process.attention == attention)
    if overdue is not None:
        late = overdue_process_ids()
        statement = statement.where(
            col(Process.id).in_(late) if overdue else col(Process.id).not_in(late)
        )
    if sort == "next_due_at":
        return statement.order_by(col(Process.next_due_at).is_(None), col(Process.next_due_at))
    started = col(Process.started_at)
    if sort == "risk":
        if caller.partner_id is not None:
            raise forbidden("the forecast of late steps is for staff")
        risk = highest_risk()
        return statement.outerjoin(risk, risk.c.process_id == Process.id).order_by(
            risk.c.late_probability.is_(None), risk.c.late_probability.desc(), started.desc()
        )
    return statement.order_by(started.desc() if sort.startswith("-") else started)


def summaries(session: Session, caller: Caller, processes: list[Process]) -> list[ProcessSummary]:
    """The processes as a list shows them, their steps and reasons read in one query each."""
    steps = steps_by_process(session, [p.id for p in processes])
    reasons = notes.cancel_reasons(session, processes)
    return [summary(p, steps[p.id], caller.partner_id, reasons.get(p.id)) for p in processes]


def steps_of(session: Session, process_id: uuid.UUID) -> list[ProcessStep]:
    return list(
        session.exec(
            select(ProcessStep)
            .where(ProcessStep.process_id == process_id)
            .order_by(col(ProcessStep.position))
        )
    )


def steps_by_process(
    session: Session, process_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[ProcessStep]]:
    """The steps of many processes in one query, each process's in template order."""
    grouped: dict[uuid.UUID, list[ProcessStep]] = {pid: [] for pid in process_ids}
    if process_ids:
        for step in session.exec(
            select(ProcessStep)
            .where(col(ProcessStep.process_id).in_(process_ids))
            .order_by(col(ProcessStep.position))
        ):
            grouped[step.process_id].append(step)
    return grouped


def summary(
    process: Process,
    steps: list[ProcessStep],
    partner_id: uuid.UUID | None = None,
    cancel_reason: str | None = None,
) -> ProcessSummary:
    """The process as a list shows it. A partner (`partner_id`) sees its own open steps only,
    and the soonest deadline among them: other partners' steps are none of its business.
    `cancel_reason` is the text of the process's cancel note (partnerflow/notes.py)."""
    open_steps = [
        s
        for s in steps
        if s.status in WORKED_ON and (partner_id is None or s.assignee_partner_id == partner_id)
    ]
    shown = ProcessSummary(
        **process.model_dump(exclude={"timeline"}),
        open_steps=[
            OpenStep(key=s.key, name=s.name, status=s.status, due_at=s.due_at, overdue=s.overdue)
            for s in open_steps
        ],
    )
    if partner_id is not None:
        shown.next_due_at = min((s.due_at for s in open_steps if s.due_at), default=None)
        shown.attention = shown.attention_reason = None
    shown.cancel_reason = cancel_reason or process.cancel_reason
    return shown


def _with_name(completed_by: dict[str, Any] | None, names: dict[uuid.UUID, str]) -> Any:
    """Who finished a step, with the name the workflow no longer carries (by user id)."""
    if not completed_by:
        return completed_by
    user_id = uuid.UUID(str(completed_by["user_id"]))
    return {**completed_by, "name": names.get(user_id, completed_by.get("name"))}


def _readable_timeline(
    timeline: list[dict[str, Any]], known: dict[uuid.UUID, str]
) -> list[dict[str, Any]]:
    """Each entry with the text of the note it names as its `detail`, as before notes."""
    return [
        {**entry, "detail": known.get(uuid.UUID(str(entry["note_id"])), entry.get("detail"))}
        if entry.get("note_id")
        else entry
        for entry in timeline
    ]


# What a partner reads of the timeline: the review of its own steps (why changes were asked
# for), and its own declines; nothing of other steps, other partners or failures.
PARTNER_EVENTS = frozenset({"step_submitted", "changes_requested", "step_approved"})


def _partner_timeline(
    session: Session,
    timeline: list[dict[str, Any]],
    step_keys: set[str],
    partner_id: uuid.UUID,
) -> list[dict[str, Any]]:
    declines = {
        uuid.UUID(str(entry["note_id"]))
        for entry in timeline
        if entry.get("event") == "step_declined" and entry.get("note_id")
    }
    own_declines = (
        set(
            session.exec(
                select(ProcessNote.id).where(
                    col(ProcessNote.id).in_(declines), ProcessNote.partner_id == partner_id
                )
            )
        )
        if declines
        else set()
    )
    return [
        entry
        for entry in timeline
        if (entry.get("event") in PARTNER_EVENTS and entry.get("step_key") in step_keys)
        or (
            entry.get("event") == "step_declined"
            and entry.get("note_id")
            and uuid.UUID(str(entry["note_id"])) in own_declines
        )
    ]


def _changes_requested(
    steps: list[ProcessStep], timeline: list[dict[str, Any]], known: dict[uuid.UUID, str]
) -> dict[str, str]:
    """Why the reviewer sent each step back the newest time, for the steps back with their
    assignee after a request for changes (active, with rounds)."""
    back = {s.key for s in steps if s.status == "active" and s.review_rounds}
    reasons: dict[str, str] = {}
    for entry in timeline:
        key = entry.get("step_key")
        if entry.get("event") == "changes_requested" and key in back and entry.get("note_id"):
            text = known.get(uuid.UUID(str(entry["note_id"])))
            if text is not None:
                reasons[key] = text
    return reasons


def _attached_documents(session: Session, process_id: uuid.UUID) -> Iterable[Document]:
    return session.exec(
        select(Document)
        .where(Document.process_id == process_id, Document.status == "attached")
        .order_by(col(Document.created_at))
    )


def process_detail(
    session: Session, caller: Caller, process: Process, settings: Settings
) -> ProcessDetail:
    """The process as the caller may see it (`process` from `visible_process`): a partner gets
    its own steps, the customer's name, phone and address, and of the timeline the review of
    its steps and its own declines; staff the whole timeline. Reasons are resolved from their
    notes."""
    steps = steps_of(session, process.id)
    visible = [
        s for s in steps if caller.partner_id is None or s.assignee_partner_id == caller.partner_id
    ]
    documents: dict[str, list[DocumentPublic]] = {}
    if caller.may("documents:view"):
        for document in _attached_documents(session, process.id):
            documents.setdefault(document.step_key, []).append(
                DocumentPublic(**document.model_dump())
            )
    opportunity = session.get(Opportunity, process.opportunity_id)
    customer = dict(opportunity.customer) if opportunity else {}
    if caller.partner_id is not None:
        customer = {k: v for k, v in customer.items() if k in PARTNER_CUSTOMER_FIELDS}
    known = notes.texts(session, notes.note_ids(process.timeline))
    finishers = {uuid.UUID(str(s.completed_by["user_id"])) for s in visible if s.completed_by}
    reviewers = {s.reviewer_user_id for s in visible if s.reviewer_user_id is not None}
    names = names_of(session, set(), finishers | reviewers)
    sent_back = _changes_requested(visible, process.timeline, known)
    timeline: list[dict[str, Any]] = []
    if caller.is_staff:
        timeline = process.timeline
    elif caller.partner_id is not None:
        keys = {s.key for s in visible}
        timeline = _partner_timeline(session, process.timeline, keys, caller.partner_id)
    return ProcessDetail(
        **summary(
            process, steps, caller.partner_id, notes.cancel_reason(process, known)
        ).model_dump(),
        customer=customer,
        steps=[
            StepPublic(
                **s.model_dump(exclude={"completed_by"}),
                completed_by=_with_name(s.completed_by, names),
                documents=documents.get(s.key, []),
                risk=step_risk(s) if caller.is_staff else None,
                reviewer_name=names.get(s.reviewer_user_id) if s.reviewer_user_id else None,
                changes_requested_reason=sent_back.get(s.key),
            )
            for s in visible
        ],
        timeline=_readable_timeline(timeline, known),
        temporal_url=(
            f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}"
            f"/workflows/{workflow_id_for(process.id)}"
            if caller.is_staff
            else None
        ),
    )


# updates ----------------------------------------------------------------------------------


async def run_update(temporal: Client, process_id: uuid.UUID, call: Update) -> ProcessState:
    """Send an update to the process's workflow; what it refused is `Refused` of its kind."""
    handle = temporal.get_workflow_handle_for(
        PartnerProcessWorkflow.run, workflow_id_for(process_id)
    )
    try:
        return await call(handle)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        refused = None
        if isinstance(cause, ApplicationError):
            refused = Refused.from_workflow(cause.type, cause.message)
        if refused is None:  # the workflow failed it without refusing
            refused = Refused("unavailable", "the process could not take the update")
        raise refused from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise conflict("the process is no longer running") from error
        raise


async def updated_detail(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    process: Process,
    call: Update,
) -> ProcessDetail:
    """Send an update to a process the caller may see (`visible_process`), then answer from
    the read model the workflow wrote before it answered."""
    process_id = process.id
    session.rollback()  # release SQLite's read snapshot while the workflow writes
    # What was loaded is stale once the workflow wrote (a rollback with no transaction open,
    # as after a note's commit, expires nothing by itself).
    session.expire_all()
    await run_update(temporal, process_id, call)
    written = session.get(Process, process_id)  # read again: `process` is expired
    if written is None:
        raise not_found("process")
    return process_detail(session, caller, written, settings)


async def with_note(
    session: Session, note_id: uuid.UUID | None, send: Callable[[], Awaitable[ProcessDetail]]
) -> ProcessDetail:
    """Send the update that carries a note's id (partnerflow/notes.py). Refused: the workflow
    never took the note, nor ever will, and it goes. Any other failure (Temporal unavailable,
    a timeout) leaves the outcome unknown: the note stays, shown only where the process's
    timeline names it."""
    try:
        return await send()
    except Refused as refused:
        if note_id is not None and refused.kind != "unavailable":
            notes.discard(session, note_id)
        raise


async def cancel(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    process_id: uuid.UUID,
    reason: str,
) -> ProcessDetail:
    """Cancel a running process; the reason is stored here and the workflow gets its id."""
    process = visible_process(session, caller, process_id)
    if process.status != "running":
        raise conflict(f"the process is {process.status}")
    note_id = notes.write(
        session, process_id=process_id, step_key=None, kind="cancel_reason",
        author_id=caller.user.id, body=reason,
    )  # fmt: skip
    payload = CancelInput(actor=caller.actor(), note_id=note_id)
    return await with_note(
        session, note_id,
        lambda: updated_detail(
            session, temporal, settings, caller, process,
            lambda handle: handle.execute_update(PartnerProcessWorkflow.cancel, payload),
        ),
    )  # fmt: skip
