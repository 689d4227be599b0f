"""Processes: start one (a Temporal workflow), read it from the read model, complete its steps."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import (
    Caller,
    CurrentCaller,
    PageDep,
    SessionDep,
    SettingsDep,
    StaffCaller,
    TemporalDep,
)
from api.errors import conflict, invalid, not_found
from api.listing import Page, fetch_page
from partnerflow.models import (
    Opportunity,
    Partner,
    Process,
    ProcessStep,
    ProcessTemplate,
    ProcessTemplateVersion,
    User,
)
from partnerflow.settings import Settings
from workflows import search_attributes
from workflows.messages import AwaitRecordedInput, CompleteStepInput, ProcessInput, TemplateSnapshot
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for

router = APIRouter(prefix="/api/processes", tags=["processes"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c7a52-4d0e-4c55-9a34-7d0f3c1b2e90")

_REFUSALS = {
    "NotFound": status.HTTP_404_NOT_FOUND,
    "Forbidden": status.HTTP_403_FORBIDDEN,
    "Conflict": status.HTTP_409_CONFLICT,
    "Invalid": status.HTTP_422_UNPROCESSABLE_CONTENT,
}


class ProcessStart(BaseModel):
    template_id: uuid.UUID
    version: int | None = Field(default=None, ge=1)
    opportunity_id: uuid.UUID
    contact_user_id: uuid.UUID | None = None
    partners: dict[str, uuid.UUID] = Field(default_factory=dict)
    test: bool = False


class StepComplete(BaseModel):
    fields: dict[str, Any] = Field(default_factory=dict)


class OpenStep(BaseModel):
    key: str
    name: str
    due_at: datetime | None = None


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
    open_steps: list[OpenStep]
    next_due_at: datetime | None = None


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
    documents: list[dict[str, Any]] = Field(default_factory=list)


class ProcessDetail(ProcessSummary):
    steps: list[StepPublic]
    timeline: list[dict[str, Any]]
    temporal_url: str | None = None


def _visible(session: Session, caller: Caller, process_id: uuid.UUID) -> Process:
    """The process, if the caller may see it; a partner sees only processes with its steps."""
    process = session.get(Process, process_id)
    if process is None:
        not_found("process")
    if caller.partner_id is not None and not _partner_steps(session, process.id, caller.partner_id):
        not_found("process")
    return process


def _partner_steps(
    session: Session, process_id: uuid.UUID, partner_id: uuid.UUID
) -> list[ProcessStep]:
    return list(
        session.exec(
            select(ProcessStep).where(
                ProcessStep.process_id == process_id, ProcessStep.assignee_partner_id == partner_id
            )
        )
    )


def _steps(session: Session, process_id: uuid.UUID) -> list[ProcessStep]:
    return list(
        session.exec(
            select(ProcessStep)
            .where(ProcessStep.process_id == process_id)
            .order_by(col(ProcessStep.position))
        )
    )


def _summary(process: Process, steps: list[ProcessStep]) -> dict[str, Any]:
    return {
        **process.model_dump(exclude={"timeline"}),
        "open_steps": [OpenStep(key=s.key, name=s.name) for s in steps if s.status == "active"],
    }


def _detail(
    session: Session, caller: Caller, process: Process, settings: Settings
) -> ProcessDetail:
    steps = _steps(session, process.id)
    visible = [
        s for s in steps if caller.partner_id is None or s.assignee_partner_id == caller.partner_id
    ]
    return ProcessDetail(
        **_summary(process, steps),
        steps=[StepPublic(**s.model_dump()) for s in visible],
        timeline=process.timeline if caller.is_staff else [],
        temporal_url=(
            f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}"
            f"/workflows/{workflow_id_for(process.id)}"
            if caller.is_staff
            else None
        ),
    )


def _snapshot(session: Session, body: ProcessStart) -> tuple[ProcessTemplate, TemplateSnapshot]:
    template = session.get(ProcessTemplate, body.template_id)
    if template is None:
        invalid("template_id", "no process template with this id")
    if template.archived:
        conflict("the process template is archived and starts nothing")
    version = body.version or template.published_version
    if version is None:
        conflict("the process template is not published")
    row = session.exec(
        select(ProcessTemplateVersion).where(
            ProcessTemplateVersion.template_id == template.id,
            ProcessTemplateVersion.version == version,
        )
    ).first()
    if row is None:
        invalid("version", f"the process template has no published version {version}")
    return template, TemplateSnapshot.model_validate(row.snapshot)


def _check_bindings(
    session: Session, snapshot: TemplateSnapshot, partners: dict[str, uuid.UUID]
) -> None:
    slots = {s.assignee.slot for s in snapshot.steps if s.assignee.type == "partner_slot"}
    for slot in sorted(slots - partners.keys()):
        invalid(["partners", slot], f"the template's slot '{slot}' needs a partner")
    for slot, partner_id in partners.items():
        if slot not in slots:
            invalid(["partners", slot], f"the template has no partner slot '{slot}'")
        partner = session.get(Partner, partner_id)
        if partner is None or partner.status != "active":
            invalid(["partners", slot], "no active partner with this id")


def _bound_partners(snapshot: TemplateSnapshot, partners: dict[str, uuid.UUID]) -> list[str]:
    ids = set(partners.values()) | {
        s.assignee.partner_id for s in snapshot.steps if s.assignee.type == "partner"
    }
    return sorted(str(i) for i in ids)


@router.post("", status_code=status.HTTP_201_CREATED)
async def start_process(
    body: ProcessStart,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: StaffCaller,
    idempotency_key: IdempotencyKey = None,
) -> ProcessDetail:
    template, snapshot = _snapshot(session, body)
    opportunity = session.get(Opportunity, body.opportunity_id)
    if opportunity is None:
        invalid("opportunity_id", "no opportunity with this id")
    contact = session.get(User, body.contact_user_id or template.contact_user_id)
    if contact is None or contact.partner_id is not None or not contact.active:
        invalid("contact_user_id", "no active user of the company with this id")
    _check_bindings(session, snapshot, body.partners)
    session.rollback()  # release SQLite's read snapshot while the workflow writes

    # The same key from the same caller names the same process: a retried call starts nothing new.
    process_id = (
        uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{caller.user.id}:{idempotency_key}")
        if idempotency_key
        else uuid.uuid4()
    )
    test = body.test or opportunity.test
    partners = _bound_partners(snapshot, body.partners)
    start = WithStartWorkflowOperation(
        PartnerProcessWorkflow.run,
        ProcessInput(
            process_id=process_id,
            template=snapshot,
            opportunity_id=opportunity.id,
            contact_user_id=contact.id,
            partners=body.partners,
            test=test,
        ),
        id=workflow_id_for(process_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=search_attributes.at_start(
            template_id=str(snapshot.template_id),
            opportunity_id=str(opportunity.id),
            partner_ids=partners,
            test=test,
        ),
    )
    await temporal.execute_update_with_start_workflow(
        PartnerProcessWorkflow.await_recorded,
        AwaitRecordedInput(version=1),
        start_workflow_operation=start,
    )
    process = session.get(Process, process_id)
    if process is None:  # the workflow answers only after its first write, so this is a bug
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the process is not recorded yet")
    return _detail(session, caller, process, settings)


@router.get("")
def list_processes(
    session: SessionDep,
    caller: CurrentCaller,
    page: PageDep,
    status_filter: Annotated[str | None, Query(alias="status", max_length=16)] = None,
    template_id: uuid.UUID | None = None,
    opportunity_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    test: bool = False,
) -> Page[ProcessSummary]:
    statement = select(Process).where(Process.test == test).order_by(col(Process.started_at).desc())
    if status_filter:
        statement = statement.where(Process.status == status_filter)
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
    rows, count = fetch_page(session, statement, page)
    summaries = [ProcessSummary(**_summary(p, _steps(session, p.id))) for p in rows]
    return Page(data=summaries, count=count)


@router.get("/{process_id}")
def get_process(
    process_id: uuid.UUID, session: SessionDep, caller: CurrentCaller, settings: SettingsDep
) -> ProcessDetail:
    return _detail(session, caller, _visible(session, caller, process_id), settings)


@router.post("/{process_id}/steps/{step_key}/complete")
async def complete_step(
    process_id: uuid.UUID,
    step_key: str,
    body: StepComplete,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    idempotency_key: IdempotencyKey = None,
) -> ProcessDetail:
    process = _visible(session, caller, process_id)
    step = session.exec(
        select(ProcessStep).where(ProcessStep.process_id == process_id, ProcessStep.key == step_key)
    ).first()
    if step is None or (
        caller.partner_id is not None and step.assignee_partner_id != caller.partner_id
    ):
        not_found("step")
    if process.status != "running":
        conflict(f"the process is {process.status}")
    session.rollback()
    handle = temporal.get_workflow_handle_for(
        PartnerProcessWorkflow.run, workflow_id_for(process_id)
    )
    update_id = (
        f"complete:{step_key}:{caller.user.id}:{idempotency_key}" if idempotency_key else None
    )
    try:
        await handle.execute_update(
            PartnerProcessWorkflow.complete_step,
            CompleteStepInput(step_key=step_key, actor=caller.actor(), fields=body.fields),
            id=update_id,
        )
    except WorkflowUpdateFailedError as error:
        raise _refusal(error) from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            conflict("the process is no longer running")
        raise
    session.expire_all()
    return _detail(session, caller, _visible(session, caller, process_id), settings)


def _refusal(error: WorkflowUpdateFailedError) -> HTTPException:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type in _REFUSALS:
        return HTTPException(_REFUSALS[cause.type], detail=cause.message)
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE, detail="the process could not take the update"
    )
