"""Automations: kept only when what they start can start, and which ones an opportunity event
sets off (pure: filters and what changed). The JSON API (api/routes/automations.py) calls these;
a refusal is `Refused`, with `loc` the path into the automation's body."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import delete as delete_rows
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from partnerflow.db import utcnow
from partnerflow.models import (
    Automation,
    AutomationEvent,
    AutomationRun,
    Opportunity,
    ProcessTemplate,
)
from partnerflow.partner_status import unbindable
from partnerflow.refusals import invalid, not_found

TOP_LEVEL_KEYS = ("product", "test", "title")


class Trigger(BaseModel):
    event: AutomationEvent
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


def public_run(run: AutomationRun) -> RunPublic:
    return RunPublic(**run.model_dump())


def listed(template_id: uuid.UUID | None = None) -> SelectOfScalar[Automation]:
    """The automations by name; those that start `template_id`, if given."""
    statement = select(Automation).order_by(col(Automation.name))
    if template_id:
        statement = statement.where(Automation.template_id == template_id)
    return statement


def get(session: Session, automation_id: uuid.UUID) -> AutomationPublic:
    return public(_get(session, automation_id))


def create(session: Session, body: AutomationCreate) -> AutomationPublic:
    _check(session, body)
    automation = Automation(
        name=body.name, event=body.trigger.event, template_id=body.action.start_process
    )
    _apply(automation, body)
    session.add(automation)
    session.commit()
    return public(automation)


def update(session: Session, automation_id: uuid.UUID, body: AutomationCreate) -> AutomationPublic:
    automation = _get(session, automation_id)
    _check(session, body)
    _apply(automation, body)
    automation.updated_at = utcnow()
    session.add(automation)
    session.commit()
    return public(automation)


def delete(session: Session, automation_id: uuid.UUID) -> None:
    """Gone with the record of its runs (the processes they started stay)."""
    automation = _get(session, automation_id)
    session.execute(
        delete_rows(AutomationRun).where(col(AutomationRun.automation_id) == automation_id)
    )
    session.delete(automation)
    session.commit()


def runs(session: Session, automation_id: uuid.UUID) -> SelectOfScalar[AutomationRun]:
    """The automation's runs, newest first."""
    _get(session, automation_id)
    return (
        select(AutomationRun)
        .where(AutomationRun.automation_id == automation_id)
        .order_by(col(AutomationRun.created_at).desc())
    )


def _get(session: Session, automation_id: uuid.UUID) -> Automation:
    automation = session.get(Automation, automation_id)
    if automation is None:
        raise not_found("automation")
    return automation


def _check(session: Session, body: AutomationCreate) -> None:
    for key in body.trigger.filter:
        problem = filter_key_problem(key)
        if problem:
            raise invalid(["trigger", "filter", key], problem)
    if session.get(ProcessTemplate, body.action.start_process) is None:
        raise invalid(["action", "start_process"], "no process template with this id")
    for slot, partner_id in body.action.partners.items():
        # Only an active partner is bound; one revoked after saving makes its runs skipped.
        problem = unbindable(session, partner_id)
        if problem:
            raise invalid(["action", "partners", slot], problem)


def _apply(automation: Automation, body: AutomationCreate) -> None:
    automation.name = body.name
    automation.enabled = body.enabled
    automation.event = body.trigger.event
    automation.filter = body.trigger.filter
    automation.template_id = body.action.start_process
    automation.partners = {slot: str(pid) for slot, pid in body.action.partners.items()}


def filter_key_problem(key: str) -> str | None:
    """Why `key` cannot be filtered on, or None: top-level fields or `attributes.<name>`."""
    if key in TOP_LEVEL_KEYS:
        return None
    if key.startswith("attributes.") and len(key) > len("attributes."):
        return None
    return (
        f"'{key}' is not a filterable field: use {', '.join(TOP_LEVEL_KEYS)} or attributes.<name>"
    )


def value_of(opportunity: Opportunity | dict[str, Any], key: str) -> Any:
    data = opportunity if isinstance(opportunity, dict) else opportunity.model_dump()
    if key.startswith("attributes."):
        return (data.get("attributes") or {}).get(key.removeprefix("attributes."))
    return data.get(key)


def matches(automation: Automation, opportunity: Opportunity) -> bool:
    return all(value_of(opportunity, key) == wanted for key, wanted in automation.filter.items())


def triggered(
    automation: Automation, event: str, opportunity: Opportunity, before: dict[str, Any] | None
) -> bool:
    """Does this event start the automation? An update counts only when a filtered field
    actually changed (so saving an opportunity unchanged starts nothing twice)."""
    if not automation.enabled or automation.event != event or not matches(automation, opportunity):
        return False
    if event == "opportunity.updated":
        assert before is not None
        return any(value_of(before, key) != value_of(opportunity, key) for key in automation.filter)
    return True
