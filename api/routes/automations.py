"""Automations: start a process when an opportunity is created or changes."""

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from sqlalchemy import delete
from sqlmodel import Session, col, select

from api.deps import PageDep, SessionDep, StaffCaller
from api.errors import invalid, not_found
from api.listing import Page, fetch_page
from partnerflow.automations import filter_key_problem
from partnerflow.db import utcnow
from partnerflow.models import Automation, AutomationRun, ProcessTemplate
from partnerflow.partner_status import unbindable

router = APIRouter(prefix="/api/automations", tags=["automations"])


class Trigger(BaseModel):
    event: Literal["opportunity.created", "opportunity.updated"]
    filter: dict[str, Any] = Field(default_factory=dict)


class Action(BaseModel):
    start_process: uuid.UUID
    partners: dict[str, uuid.UUID] = Field(default_factory=dict)


class AutomationCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    trigger: Trigger
    action: Action


class AutomationPublic(AutomationCreate):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class RunPublic(BaseModel):
    id: uuid.UUID
    opportunity_id: uuid.UUID
    event: str
    outcome: str
    process_id: uuid.UUID | None
    reason: str | None
    created_at: datetime


def public(automation: Automation) -> AutomationPublic:
    return AutomationPublic(
        id=automation.id,
        name=automation.name,
        enabled=automation.enabled,
        trigger=Trigger(event=automation.event, filter=automation.filter),
        action=Action(
            start_process=automation.template_id,
            partners={slot: uuid.UUID(pid) for slot, pid in automation.partners.items()},
        ),
        created_at=automation.created_at,
        updated_at=automation.updated_at,
    )


def _checked(session: Session, body: AutomationCreate) -> None:
    for key in body.trigger.filter:
        problem = filter_key_problem(key)
        if problem:
            invalid(["trigger", "filter", key], problem)
    template = session.get(ProcessTemplate, body.action.start_process)
    if template is None:
        invalid(["action", "start_process"], "no process template with this id")
    for slot, partner_id in body.action.partners.items():
        # Only an active partner is bound; one revoked after saving makes its runs skipped.
        problem = unbindable(session, partner_id)
        if problem:
            invalid(["action", "partners", slot], problem)


def _apply(automation: Automation, body: AutomationCreate) -> None:
    automation.name = body.name
    automation.enabled = body.enabled
    automation.event = body.trigger.event
    automation.filter = body.trigger.filter
    automation.template_id = body.action.start_process
    automation.partners = {slot: str(pid) for slot, pid in body.action.partners.items()}


def _get(session: Session, automation_id: uuid.UUID) -> Automation:
    automation = session.get(Automation, automation_id)
    if automation is None:
        not_found("automation")
    return automation


@router.post("", status_code=status.HTTP_201_CREATED)
def create_automation(
    body: AutomationCreate, session: SessionDep, _: StaffCaller
) -> AutomationPublic:
    _checked(session, body)
    automation = Automation(
        name=body.name, event=body.trigger.event, template_id=body.action.start_process
    )
    _apply(automation, body)
    session.add(automation)
    session.commit()
    return public(automation)


@router.get("")
def list_automations(
    session: SessionDep, _: StaffCaller, page: PageDep, template_id: uuid.UUID | None = None
) -> Page[AutomationPublic]:
    statement = select(Automation).order_by(col(Automation.name))
    if template_id:
        statement = statement.where(Automation.template_id == template_id)
    rows, count = fetch_page(session, statement, page)
    return Page(data=[public(a) for a in rows], count=count)


@router.get("/{automation_id}")
def get_automation(
    automation_id: uuid.UUID, session: SessionDep, _: StaffCaller
) -> AutomationPublic:
    return public(_get(session, automation_id))


@router.put("/{automation_id}")
def update_automation(
    automation_id: uuid.UUID, body: AutomationCreate, session: SessionDep, _: StaffCaller
) -> AutomationPublic:
    automation = _get(session, automation_id)
    _checked(session, body)
    _apply(automation, body)
    automation.updated_at = utcnow()
    session.add(automation)
    session.commit()
    return public(automation)


@router.delete("/{automation_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_automation(automation_id: uuid.UUID, session: SessionDep, _: StaffCaller) -> None:
    automation = _get(session, automation_id)
    session.execute(delete(AutomationRun).where(col(AutomationRun.automation_id) == automation_id))
    session.delete(automation)
    session.commit()


@router.get("/{automation_id}/runs")
def list_runs(
    automation_id: uuid.UUID, session: SessionDep, _: StaffCaller, page: PageDep
) -> Page[RunPublic]:
    _get(session, automation_id)
    statement = (
        select(AutomationRun)
        .where(AutomationRun.automation_id == automation_id)
        .order_by(col(AutomationRun.created_at).desc())
    )
    rows, count = fetch_page(session, statement, page)
    return Page(data=[RunPublic(**r.model_dump()) for r in rows], count=count)
