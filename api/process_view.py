"""What processes look like over HTTP, who may see them, and how updates reach the workflow."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import HTTPException, status
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Caller
from api.errors import conflict, not_found
from partnerflow import notes
from partnerflow.models import Document, Opportunity, Process, ProcessStep, User
from partnerflow.settings import Settings
from workflows.messages import ProcessState
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for

_REFUSALS = {
    "NotFound": status.HTTP_404_NOT_FOUND,
    "Forbidden": status.HTTP_403_FORBIDDEN,
    "Conflict": status.HTTP_409_CONFLICT,
    "Invalid": status.HTTP_422_UNPROCESSABLE_CONTENT,
}


class OpenStep(BaseModel):
    key: str
    name: str
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


class ProcessDetail(ProcessSummary):
    # the customer, for the work: partners see name, phone and address, not more
    customer: dict[str, Any] = Field(default_factory=dict)
    steps: list[StepPublic]
    timeline: list[dict[str, Any]]
    temporal_url: str | None = None


PARTNER_CUSTOMER_FIELDS = ("name", "phone", "address")


def visible_process(session: Session, caller: Caller, process_id: uuid.UUID) -> Process:
    """The process, if the caller may see it: a partner sees only processes with its steps."""
    process = session.get(Process, process_id)
    if process is None:
        not_found("process")
    if caller.partner_id is not None:
        mine = session.exec(
            select(ProcessStep.id).where(
                ProcessStep.process_id == process_id,
                ProcessStep.assignee_partner_id == caller.partner_id,
            )
        ).first()
        if mine is None:
            not_found("process")
    return process


def visible_step(session: Session, caller: Caller, process_id: uuid.UUID, key: str) -> ProcessStep:
    """The step, if the caller may see it: a partner sees only its own organisation's steps."""
    visible_process(session, caller, process_id)
    step = session.exec(
        select(ProcessStep).where(ProcessStep.process_id == process_id, ProcessStep.key == key)
    ).first()
    if step is None or (
        caller.partner_id is not None and step.assignee_partner_id != caller.partner_id
    ):
        not_found("step")
    return step


def overdue_process_ids() -> Any:
    """The ids of processes with an open step past its deadline (a subquery)."""
    return select(ProcessStep.process_id).where(
        ProcessStep.status == "active", col(ProcessStep.overdue).is_(True)
    )


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
        if s.status == "active" and (partner_id is None or s.assignee_partner_id == partner_id)
    ]
    shown = ProcessSummary(
        **process.model_dump(exclude={"timeline"}),
        open_steps=[
            OpenStep(key=s.key, name=s.name, due_at=s.due_at, overdue=s.overdue) for s in open_steps
        ],
    )
    if partner_id is not None:
        shown.next_due_at = min((s.due_at for s in open_steps if s.due_at), default=None)
        shown.attention = shown.attention_reason = None
    shown.cancel_reason = cancel_reason or process.cancel_reason
    return shown


def user_names(session: Session, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not user_ids:
        return {}
    return dict(session.exec(select(User.id, User.name).where(col(User.id).in_(user_ids))).all())


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


def process_detail(
    session: Session, caller: Caller, process: Process, settings: Settings
) -> ProcessDetail:
    steps = steps_of(session, process.id)
    visible = [
        s for s in steps if caller.partner_id is None or s.assignee_partner_id == caller.partner_id
    ]
    documents: dict[str, list[DocumentPublic]] = {}
    if caller.may("documents:view"):
        for document in session.exec(
            select(Document)
            .where(Document.process_id == process.id, Document.status == "attached")
            .order_by(col(Document.created_at))
        ):
            documents.setdefault(document.step_key, []).append(
                DocumentPublic(**document.model_dump())
            )
    opportunity = session.get(Opportunity, process.opportunity_id)
    customer = dict(opportunity.customer) if opportunity else {}
    if caller.partner_id is not None:
        customer = {k: v for k, v in customer.items() if k in PARTNER_CUSTOMER_FIELDS}
    # Names and reasons live in the database, not in Temporal: resolved here, by id.
    known = notes.texts(session, notes.note_ids(process.timeline))
    names = user_names(
        session, {uuid.UUID(str(s.completed_by["user_id"])) for s in visible if s.completed_by}
    )
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
            )
            for s in visible
        ],
        timeline=_readable_timeline(process.timeline, known) if caller.is_staff else [],
        temporal_url=(
            f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}"
            f"/workflows/{workflow_id_for(process.id)}"
            if caller.is_staff
            else None
        ),
    )


async def run_update(
    temporal: Client,
    process_id: uuid.UUID,
    call: Callable[[Any], Awaitable[ProcessState]],
) -> ProcessState:
    """Send an update to the process's workflow; refusals become the HTTP status they mean."""
    handle = temporal.get_workflow_handle_for(
        PartnerProcessWorkflow.run, workflow_id_for(process_id)
    )
    try:
        return await call(handle)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type in _REFUSALS:
            raise HTTPException(_REFUSALS[cause.type], detail=cause.message) from error
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail="the process could not take the update"
        ) from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            conflict("the process is no longer running")
        raise


async def updated_detail(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    process_id: uuid.UUID,
    call: Callable[[Any], Awaitable[ProcessState]],
) -> ProcessDetail:
    """Send an update, then answer from the read model the workflow wrote before it answered."""
    session.rollback()  # release SQLite's read snapshot while the workflow writes
    # What was loaded is stale once the workflow wrote (a rollback with no transaction open,
    # as after a note's commit, expires nothing by itself).
    session.expire_all()
    await run_update(temporal, process_id, call)
    return process_detail(session, caller, visible_process(session, caller, process_id), settings)


async def with_note(
    session: Session, note_id: uuid.UUID | None, send: Callable[[], Awaitable[ProcessDetail]]
) -> ProcessDetail:
    """Send the update that carries a note's id (partnerflow/notes.py). Refused (a 4xx): the
    workflow never took the note, nor ever will, and it goes. Any other failure leaves the
    outcome unknown: the note stays, shown only where the process's timeline names it."""
    try:
        return await send()
    except HTTPException as refusal:
        if note_id is not None and refusal.status_code < 500:
            notes.discard(session, note_id)
        raise
