"""Processes: start one (a Temporal workflow), list and read them from the read model, cancel."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import col, select

from api.deps import CurrentCaller, PageDep, SessionDep, SettingsDep, StaffCaller, TemporalDep
from api.errors import conflict, invalid
from api.idempotent import IdempotencyKey, once
from api.listing import Page, fetch_page
from api.process_view import (
    ProcessDetail,
    ProcessSummary,
    overdue_process_ids,
    process_detail,
    steps_by_process,
    summary,
    updated_detail,
    visible_process,
    with_note,
)
from partnerflow import crash_points, notes
from partnerflow.models import (
    Opportunity,
    Process,
    ProcessStep,
    User,
)
from partnerflow.starting import (
    StartRefused,
    check_bindings,
    choose_snapshot,
    erasure_refusal,
    launch,
)
from workflows.messages import CancelInput
from workflows.partner_process import PartnerProcessWorkflow

router = APIRouter(prefix="/api/processes", tags=["processes"])

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c7a52-4d0e-4c55-9a34-7d0f3c1b2e90")


class ProcessStart(BaseModel):
    template_id: uuid.UUID
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    opportunity_id: uuid.UUID
    contact_user_id: uuid.UUID | None = None
    partners: dict[str, uuid.UUID] = Field(default_factory=dict)
    test: bool = False


class ProcessCancel(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProcessDetail)
async def start_process(
    body: ProcessStart,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: StaffCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    # The same key from the same caller names the same process: one workflow, however often
    # the call is retried, and never a second run once the first has ended.
    process_id = (
        uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{caller.user.id}:{idempotency_key}")
        if idempotency_key
        else uuid.uuid4()
    )

    async def start() -> ProcessDetail:
        found = session.get(Process, process_id) if idempotency_key else None
        if found is not None:  # started by a try that did not live to store its answer
            return process_detail(session, caller, found, settings)
        opportunity = session.get(Opportunity, body.opportunity_id)
        if opportunity is None:
            invalid("opportunity_id", "no opportunity with this id")
        erased = erasure_refusal(opportunity)
        if erased is not None:
            invalid("opportunity_id", erased)
        test = body.test or opportunity.test
        try:
            template, snapshot = choose_snapshot(session, body.template_id, body.version, test)
            check_bindings(session, snapshot, body.partners)
        except StartRefused as refused:
            if refused.status == 409:
                conflict(refused.message)
            invalid(refused.loc, refused.message)
        contact = session.get(User, body.contact_user_id or template.contact_user_id)
        if contact is None or contact.partner_id is not None or not contact.active:
            invalid("contact_user_id", "no active user of the company with this id")
        process = await launch(
            session, temporal, settings,
            process_id=process_id, snapshot=snapshot, opportunity_id=opportunity.id,
            contact_user_id=contact.id, partners=body.partners, test=test,
        )  # fmt: skip
        crash_points.reached("process.launched")
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
    attention: bool | None = None,
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
    if attention is not None:  # something failed for good: an e-mail, a write
        statement = statement.where(Process.attention == attention)
    if overdue is not None:
        late = overdue_process_ids()
        statement = statement.where(
            col(Process.id).in_(late) if overdue else col(Process.id).not_in(late)
        )
    if sort == "next_due_at":
        statement = statement.order_by(col(Process.next_due_at).is_(None), col(Process.next_due_at))
    else:
        started = col(Process.started_at)
        statement = statement.order_by(started.desc() if sort.startswith("-") else started)
    rows, count = fetch_page(session, statement, page)
    steps = steps_by_process(session, [p.id for p in rows])
    reasons = notes.cancel_reasons(session, list(rows))
    return Page(
        data=[summary(p, steps[p.id], caller.partner_id, reasons.get(p.id)) for p in rows],
        count=count,
    )


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
    # The reason is stored here and the workflow gets its id: no free text in Temporal.
    note_id = notes.write(
        session, process_id=process_id, step_key=None, kind="cancel_reason",
        author_id=caller.user.id, body=body.reason,
    )  # fmt: skip
    cancel = CancelInput(actor=caller.actor(), note_id=note_id)
    return await with_note(
        session, note_id,
        lambda: updated_detail(
            session, temporal, settings, caller, process_id,
            lambda handle: handle.execute_update(PartnerProcessWorkflow.cancel, cancel),
        ),
    )  # fmt: skip
