"""Firing automations when an opportunity is created or changed; every run is recorded."""

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.service import RPCError

from api.starting import StartRefused, check_bindings, choose_snapshot, launch
from partnerflow.automations import triggered
from partnerflow.models import Automation, AutomationRun, Opportunity
from partnerflow.settings import Settings

_RUN_NAMESPACE = uuid.UUID("0b7e52f4-3f52-4c4e-9a43-5d8c7e0f1a21")


async def fire(
    session: Session,
    temporal: Client,
    settings: Settings,
    event: str,
    opportunity: Opportunity,
    before: dict[str, Any] | None = None,
) -> list[AutomationRun]:
    """Start a process for every automation this event sets off. Starting a process never
    changes an opportunity, so an automation cannot set itself off again."""
    runs = []
    automations = session.exec(select(Automation).where(Automation.event == event)).all()
    event_key = f"{opportunity.id}:{event}:{opportunity.updated_at.isoformat()}"
    for automation in automations:
        if not triggered(automation, event, opportunity, before):
            continue
        run = AutomationRun(
            automation_id=automation.id,
            opportunity_id=opportunity.id,
            event=event,
            event_key=event_key,
            outcome="started",
            # One process per automation and event, whoever retries what.
            process_id=uuid.uuid5(_RUN_NAMESPACE, f"{automation.id}:{event_key}"),
        )
        session.add(run)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # this event already ran this automation
            continue
        runs.append(await _start(session, temporal, settings, automation, opportunity, run))
    return runs


async def _start(
    session: Session,
    temporal: Client,
    settings: Settings,
    automation: Automation,
    opportunity: Opportunity,
    run: AutomationRun,
) -> AutomationRun:
    partners = {slot: uuid.UUID(pid) for slot, pid in automation.partners.items()}
    try:
        template, snapshot = choose_snapshot(
            session, automation.template_id, None, opportunity.test
        )
        check_bindings(session, snapshot, partners)
        assert run.process_id is not None
        await launch(
            session, temporal, settings,
            process_id=run.process_id, snapshot=snapshot, opportunity_id=opportunity.id,
            contact_user_id=template.contact_user_id, partners=partners, test=opportunity.test,
        )  # fmt: skip
    except StartRefused as refused:
        return _record(session, run, "skipped", refused.message)
    except RPCError as error:
        return _record(session, run, "failed", f"Temporal did not answer: {error.status.name}")
    return run


def _record(session: Session, run: AutomationRun, outcome: str, reason: str) -> AutomationRun:
    session.rollback()  # the run row was committed before the start: it is reloaded
    run.outcome = outcome
    run.reason = reason
    run.process_id = None
    session.add(run)
    session.commit()
    return run
