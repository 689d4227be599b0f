"""Automation runs: the processes an opportunity event sets off, recorded before they start.

A run is recorded as `starting` in the same transaction as the opportunity change that set it
off, and its process id is derived from the run: whoever starts it (the request, its retry,
the reconciler) finds the process if it is there and never starts a second one. The run then
becomes `started`, `skipped` (the start was refused: the reason is kept) or `failed` (Temporal
did not answer for longer than the reconciler waits).
"""

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import update
from sqlmodel import Session, col, select
from temporalio.client import Client, RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from partnerflow import crash_points
from partnerflow.automations import triggered
from partnerflow.models import Automation, AutomationEvent, AutomationRun, Opportunity, User
from partnerflow.refusals import Refused
from partnerflow.settings import Settings
from partnerflow.starting import (
    check_bindings,
    choose_snapshot,
    erasure_refusal,
    launch,
    was_started,
)

_RUN_NAMESPACE = uuid.UUID("0b7e52f4-3f52-4c4e-9a43-5d8c7e0f1a21")

Outcome = Literal["started", "skipped", "failed"]


def record_runs(
    session: Session,
    event: AutomationEvent,
    opportunity: Opportunity,
    before: dict[str, Any] | None = None,
) -> list[AutomationRun]:
    """A `starting` run for every automation this event sets off, added to the session: they
    are committed with the opportunity change, or not at all. Starting a process never changes
    an opportunity, so an automation cannot set itself off again."""
    event_key = f"{opportunity.id}:{event}:{opportunity.updated_at.isoformat()}"
    runs = []
    for automation in session.exec(select(Automation).where(Automation.event == event)):
        if not triggered(automation, event, opportunity, before):
            continue
        run = AutomationRun(
            automation_id=automation.id,
            opportunity_id=opportunity.id,
            event=event,
            event_key=event_key,
            outcome="starting",
            # One process per automation and event, whoever starts it how often.
            process_id=uuid.uuid5(_RUN_NAMESPACE, f"{automation.id}:{event_key}"),
        )
        session.add(run)
        runs.append(run)
    return runs


async def start_runs(
    session: Session, temporal: Client, settings: Settings, opportunity_id: uuid.UUID
) -> list[AutomationRun]:
    """Start the processes of the opportunity's runs that are still `starting`: the request
    that recorded them does, and its retry finishes what a crash left."""
    crash_points.reached("automation_runs.recorded")
    runs = session.exec(
        select(AutomationRun)
        .where(AutomationRun.opportunity_id == opportunity_id, AutomationRun.outcome == "starting")
        .order_by(col(AutomationRun.created_at))
    ).all()
    return [await start_run(session, temporal, settings, run) for run in runs]


async def start_run(
    session: Session,
    temporal: Client,
    settings: Settings,
    run: AutomationRun,
    give_up_before: datetime | None = None,
) -> AutomationRun:
    """Start (or find) the run's process and record the outcome. When Temporal does not
    answer, the run stays `starting` for the reconciler, unless it was recorded before
    `give_up_before`: then it is `failed`, with the reason."""
    try:
        outcome, reason = await _start(session, temporal, settings, run)
    except (RPCError, RPCTimeoutOrCancelledError) as error:
        status = error.status.name if isinstance(error, RPCError) else "timeout"
        reason = f"Temporal did not answer: {status}"
        if give_up_before is not None and run.created_at < give_up_before:
            return settle(session, run, "failed", reason)
        return _note(session, run, f"{reason}; the reconciler tries again")
    return settle(session, run, outcome, reason)


async def _start(
    session: Session, temporal: Client, settings: Settings, run: AutomationRun
) -> tuple[Outcome, str | None]:
    assert run.process_id is not None
    automation = session.get(Automation, run.automation_id)
    opportunity = session.get(Opportunity, run.opportunity_id)
    if automation is None or opportunity is None:
        return "skipped", "the automation or its opportunity no longer exists"
    # What a start by hand is refused for, an automation's start is too (the reconciler may
    # start a run long after it was recorded).
    if not automation.enabled:
        return await _unless_started(session, temporal, run, "the automation is disabled")
    erased = erasure_refusal(opportunity)
    if erased is not None:
        return await _unless_started(session, temporal, run, erased)
    partners = {slot: uuid.UUID(pid) for slot, pid in automation.partners.items()}
    try:
        template, snapshot = choose_snapshot(
            session, automation.template_id, None, opportunity.test
        )
        check_bindings(session, snapshot, partners)
    except Refused as refused:
        # Refused now, but perhaps started before a crash (and the template archived since):
        # a process that exists is found, not denied.
        if await was_started(session, temporal, run.process_id):
            return "started", None
        return "skipped", refused.message
    contact = session.get(User, template.contact_user_id)
    if contact is None or contact.partner_id is not None or not contact.active:
        return await _unless_started(
            session, temporal, run, "the template's contact person is not an active user"
        )
    await launch(
        session, temporal, settings,
        process_id=run.process_id, snapshot=snapshot, opportunity_id=opportunity.id,
        contact_user_id=template.contact_user_id, partners=partners, test=opportunity.test,
        automation_id=automation.id,
    )  # fmt: skip
    crash_points.reached("automation_run.launched")
    return "started", None


async def _unless_started(
    session: Session, temporal: Client, run: AutomationRun, reason: str
) -> tuple[Outcome, str | None]:
    """Skipped for the reason, unless the process was started before a crash: then it is."""
    assert run.process_id is not None
    if await was_started(session, temporal, run.process_id):
        return "started", None
    return "skipped", reason


def settle(
    session: Session, run: AutomationRun, outcome: Outcome, reason: str | None = None
) -> AutomationRun:
    """Record the outcome of a `starting` run; a run already settled (by a concurrent retry or
    the reconciler) keeps the outcome recorded first."""
    session.rollback()
    values: dict[str, Any] = {"outcome": outcome, "reason": reason}
    if outcome != "started":
        values["process_id"] = None
    session.execute(
        update(AutomationRun)
        .where(col(AutomationRun.id) == run.id, col(AutomationRun.outcome) == "starting")
        .values(**values)
    )
    session.commit()
    session.refresh(run)
    return run


def _note(session: Session, run: AutomationRun, reason: str) -> AutomationRun:
    session.rollback()
    session.execute(
        update(AutomationRun)
        .where(col(AutomationRun.id) == run.id, col(AutomationRun.outcome) == "starting")
        .values(reason=reason)
    )
    session.commit()
    session.refresh(run)
    return run


def stuck_runs(session: Session, recorded_before: datetime) -> list[AutomationRun]:
    """Runs still `starting` that were recorded before the given moment: a crash cut them off."""
    return list(
        session.exec(
            select(AutomationRun)
            .where(
                AutomationRun.outcome == "starting",
                col(AutomationRun.created_at) < recorded_before,
            )
            .order_by(col(AutomationRun.created_at))
        )
    )
