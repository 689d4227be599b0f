"""Opportunities: the customer cases processes run on. Creating or changing one sets off the
automations that ask for it (partnerflow/automation_runs.py); erasing its customer is
partnerflow/erasure.py."""

import uuid
from typing import Any

from sqlmodel import Session
from temporalio.client import Client

from partnerflow.automation_runs import record_runs, start_runs
from partnerflow.db import utcnow
from partnerflow.models import Opportunity
from partnerflow.refusals import conflict, invalid, not_found
from partnerflow.settings import Settings
from partnerflow.starting import erasure_refusal

# Fields an opportunity always has: a change may not blank them.
_REQUIRED = ("title", "customer", "attributes", "test")


def create(session: Session, fields: dict[str, Any]) -> Opportunity:
    """A new opportunity and the automation runs it sets off (`opportunity.created`), added
    to the session: the caller commits them together, then starts the runs (`start_runs`)."""
    opportunity = Opportunity(**fields)
    session.add(opportunity)
    record_runs(session, "opportunity.created", opportunity)
    return opportunity


def get(session: Session, opportunity_id: uuid.UUID) -> Opportunity:
    opportunity = session.get(Opportunity, opportunity_id)
    if opportunity is None:
        raise not_found("opportunity")
    return opportunity


async def update(
    session: Session,
    temporal: Client,
    settings: Settings,
    opportunity_id: uuid.UUID,
    changes: dict[str, Any],
) -> Opportunity:
    """Change the given fields; automations on `opportunity.updated` fire only when a field
    they filter on actually changed. The change and the runs it sets off commit together;
    then the runs start."""
    opportunity = get(session, opportunity_id)
    erased = erasure_refusal(opportunity)
    if erased is not None:
        raise conflict(f"{erased}: it cannot be changed")
    before = opportunity.model_dump(mode="json")
    for name, value in changes.items():
        if value is None and name in _REQUIRED:
            raise invalid(name, "may not be null")
        setattr(opportunity, name, value)
    opportunity.updated_at = utcnow()
    session.add(opportunity)
    record_runs(session, "opportunity.updated", opportunity, before)
    session.commit()
    await start_runs(session, temporal, settings, opportunity.id)
    session.refresh(opportunity)  # starting them may have ended the session's transaction
    return opportunity
