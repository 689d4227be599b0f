"""Processes: start one (a Temporal workflow), list and read them from the read model, cancel."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from api.deps import CurrentCaller, PageDep, SessionDep, SettingsDep, StaffCaller, TemporalDep
from api.errors import conflict, invalid
from api.idempotent import IdempotencyKey, once
from api.listing import Page, fetch_page
from api.process_view import (
    ProcessDetail,
    ProcessSummary,
    process_detail,
    run_update,
    steps_of,
    summary,
    visible_process,
)
from partnerflow.models import (
    Opportunity,
    Partner,
    Process,
    ProcessStep,
    ProcessTemplate,
    ProcessTemplateVersion,
    User,
)
from workflows import search_attributes
from workflows.messages import AwaitRecordedInput, CancelInput, ProcessInput, TemplateSnapshot
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for

router = APIRouter(prefix="/api/processes", tags=["processes"])

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c7a52-4d0e-4c55-9a34-7d0f3c1b2e90")


class ProcessStart(BaseModel):
    template_id: uuid.UUID
    version: int | None = Field(default=None, ge=1)
    opportunity_id: uuid.UUID
    contact_user_id: uuid.UUID | None = None
    partners: dict[str, uuid.UUID] = Field(default_factory=dict)
    test: bool = False


class ProcessCancel(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


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


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProcessDetail)
async def start_process(
    body: ProcessStart,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: StaffCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def start() -> ProcessDetail:
        template, snapshot = _snapshot(session, body)
        opportunity = session.get(Opportunity, body.opportunity_id)
        if opportunity is None:
            invalid("opportunity_id", "no opportunity with this id")
        contact = session.get(User, body.contact_user_id or template.contact_user_id)
        if contact is None or contact.partner_id is not None or not contact.active:
            invalid("contact_user_id", "no active user of the company with this id")
        _check_bindings(session, snapshot, body.partners)
        session.rollback()  # release SQLite's read snapshot while the workflow writes

        # The same key from the same caller names the same process: one workflow, however
        # often the call is retried.
        process_id = (
            uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{caller.user.id}:{idempotency_key}")
            if idempotency_key
            else uuid.uuid4()
        )
        test = body.test or opportunity.test
        start_operation = WithStartWorkflowOperation(
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
                partner_ids=_bound_partners(snapshot, body.partners),
                test=test,
            ),
        )
        await temporal.execute_update_with_start_workflow(
            PartnerProcessWorkflow.await_recorded,
            AwaitRecordedInput(version=1),
            start_workflow_operation=start_operation,
        )
        process = session.get(Process, process_id)
        if process is None:  # the workflow answers only after its first write
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the process is not recorded")
        return process_detail(session, caller, process, settings)

    return await once(session, caller, idempotency_key, "POST /api/processes", 201, start)


@router.get("")
def list_processes(
    session: SessionDep,
    caller: CurrentCaller,
    page: PageDep,
    status_filter: Annotated[
        Literal["running", "completed", "cancelled"] | None, Query(alias="status")
    ] = None,
    template_id: uuid.UUID | None = None,
    opportunity_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    overdue: bool | None = None,
    test: bool = False,
    sort: Literal["started_at", "-started_at", "next_due_at"] = "-started_at",
) -> Page[ProcessSummary]:
    """Test runs are left out unless `test=true` asks for them (and only them)."""
    statement = select(Process).where(Process.test == test)
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
    if overdue is not None:
        late = select(ProcessStep.process_id).where(
            ProcessStep.status == "active", col(ProcessStep.overdue).is_(True)
        )
        statement = statement.where(
            col(Process.id).in_(late) if overdue else col(Process.id).not_in(late)
        )
    if sort == "next_due_at":
        statement = statement.order_by(col(Process.next_due_at).is_(None), col(Process.next_due_at))
    else:
        started = col(Process.started_at)
        statement = statement.order_by(started.desc() if sort.startswith("-") else started)
    rows, count = fetch_page(session, statement, page)
    return Page(data=[summary(p, steps_of(session, p.id)) for p in rows], count=count)


@router.get("/{process_id}")
def get_process(
    process_id: uuid.UUID, session: SessionDep, caller: CurrentCaller, settings: SettingsDep
) -> ProcessDetail:
    return process_detail(session, caller, visible_process(session, caller, process_id), settings)


@router.post("/{process_id}/cancel")
async def cancel_process(
    process_id: uuid.UUID,
    body: ProcessCancel,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: StaffCaller,
) -> ProcessDetail:
    process = visible_process(session, caller, process_id)
    if process.status != "running":
        conflict(f"the process is {process.status}")
    session.rollback()
    await run_update(
        temporal,
        process_id,
        lambda handle: handle.execute_update(
            PartnerProcessWorkflow.cancel, CancelInput(actor=caller.actor(), reason=body.reason)
        ),
    )
    session.expire_all()
    return process_detail(session, caller, visible_process(session, caller, process_id), settings)
