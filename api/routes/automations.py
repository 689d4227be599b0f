"""Automations: start a process when an opportunity is created or changes."""

import uuid

from fastapi import APIRouter, status

from api.deps import PageDep, SessionDep, StaffCaller
from api.listing import Page, fetch_page
from partnerflow import automations
from partnerflow.automations import AutomationCreate, AutomationPublic, RunPublic

router = APIRouter(prefix="/api/automations", tags=["automations"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_automation(
    body: AutomationCreate, session: SessionDep, _: StaffCaller
) -> AutomationPublic:
    return automations.create(session, body)


@router.get("")
def list_automations(
    session: SessionDep, _: StaffCaller, page: PageDep, template_id: uuid.UUID | None = None
) -> Page[AutomationPublic]:
    rows, count = fetch_page(session, automations.listed(template_id), page)
    return Page(data=[automations.public(a) for a in rows], count=count)


@router.get("/{automation_id}")
def get_automation(
    automation_id: uuid.UUID, session: SessionDep, _: StaffCaller
) -> AutomationPublic:
    return automations.get(session, automation_id)


@router.put("/{automation_id}")
def update_automation(
    automation_id: uuid.UUID, body: AutomationCreate, session: SessionDep, _: StaffCaller
) -> AutomationPublic:
    return automations.update(session, automation_id, body)


@router.delete("/{automation_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_automation(automation_id: uuid.UUID, session: SessionDep, _: StaffCaller) -> None:
    automations.delete(session, automation_id)


@router.get("/{automation_id}/runs")
def list_runs(
    automation_id: uuid.UUID, session: SessionDep, _: StaffCaller, page: PageDep
) -> Page[RunPublic]:
    rows, count = fetch_page(session, automations.runs(session, automation_id), page)
    return Page(data=[automations.public_run(r) for r in rows], count=count)
