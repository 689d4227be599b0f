"""Offers of a step to partners (OfferAssignee), as a partner sees and answers them: its own
pending offers, accept (the first wins), decline with a reason.

The workflow decides who wins and what an offer's status is; these read the read model
(`ProcessOffer`, written with the process's state) and send the workflow the answer. Before
a partner accepts, it sees where the job is (postal code and city), never who the customer is.
"""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar
from temporalio.client import Client

from partnerflow import notes, steps
from partnerflow.callers import Caller
from partnerflow.db import utcnow
from partnerflow.models import (
    Opportunity,
    Process,
    ProcessOffer,
    ProcessStep,
    ProcessTemplate,
)
from partnerflow.processes import ProcessDetail, run_update, updated_detail
from partnerflow.refusals import Refused, forbidden, invalid, not_found
from partnerflow.settings import Settings
from workflows.messages import AnswerOfferInput, OfferStatus
from workflows.partner_process import PartnerProcessWorkflow

MAX_REASON = 2000
# the namespace of the ids of decline reasons stored under an Idempotency-Key
NOTE_IDS = uuid.UUID("5d0b3c1e-8f4a-4e21-b7c6-2a9e0f1d4c70")


class OfferPublic(BaseModel):
    """An offer as the partner it is made to sees it: the job and where, not for whom."""

    id: uuid.UUID
    process_id: uuid.UUID
    step_key: str
    step_name: str
    template_name: str
    postal_code: str | None
    city: str | None
    status: OfferStatus
    offered_at: datetime
    # until when this partner may accept (its turn's end, for a ranked offer)
    expires_at: datetime


def place(customer: dict[str, Any]) -> tuple[str | None, str | None]:
    """Where the job is: the customer's postal code and city, and nothing else of them."""
    address = customer.get("address") or {}
    if not isinstance(address, dict):
        return None, None
    postal_code, city = address.get("postal_code"), address.get("city")
    return (str(postal_code) if postal_code else None), (str(city) if city else None)


def _partner_of(caller: Caller) -> uuid.UUID:
    if caller.partner_id is None:
        raise forbidden("offers are made to partners; the company's users reassign steps")
    return caller.partner_id


def _offers() -> SelectOfScalar[Any]:
    """Offers with what a partner is shown of them: the step, the template, the opportunity
    (of which only the place is read)."""
    return (
        select(ProcessOffer, ProcessStep, ProcessTemplate, Opportunity)  # type: ignore[return-value]
        .join(Process, col(Process.id) == ProcessOffer.process_id)
        .join(
            ProcessStep,
            (col(ProcessStep.process_id) == ProcessOffer.process_id)
            & (col(ProcessStep.key) == ProcessOffer.step_key),
        )
        .join(ProcessTemplate, col(ProcessTemplate.id) == Process.template_id)
        .join(Opportunity, col(Opportunity.id) == Process.opportunity_id)
    )


def _listed(caller: Caller, test: bool) -> SelectOfScalar[Any]:
    """The caller's partner's offers it may still accept, soonest expiry first: of running
    processes, and not past their expiry (the workflow's timer may not have fired yet). Test
    runs only when `test` asks for them, as in the task list."""
    return (
        _offers()
        .where(
            ProcessOffer.partner_id == _partner_of(caller),
            ProcessOffer.status == "pending",
            col(ProcessOffer.expires_at) > utcnow(),
            Process.status == "running",
            Process.test == test,
        )
        .order_by(col(ProcessOffer.expires_at), col(ProcessOffer.offered_at))
    )


def pending(
    session: Session, caller: Caller, *, test: bool = False, limit: int = 100, offset: int = 0
) -> tuple[list[OfferPublic], int]:
    """One page of the caller's partner's open offers, and how many there are."""
    statement = _listed(caller, test)
    count = session.exec(select(func.count()).select_from(statement.subquery())).one()
    rows = session.exec(statement.limit(limit).offset(offset)).all()
    return [_public(*row) for row in rows], count


def _public(
    offer: ProcessOffer, step: ProcessStep, template: ProcessTemplate, opportunity: Opportunity
) -> OfferPublic:
    postal_code, city = place(opportunity.customer)
    return OfferPublic(
        id=offer.id,
        process_id=offer.process_id,
        step_key=offer.step_key,
        step_name=step.name,
        template_name=template.name,
        postal_code=postal_code,
        city=city,
        status=offer.status,
        offered_at=offer.offered_at,
        expires_at=offer.expires_at,
    )


def offer_of(session: Session, caller: Caller, offer_id: uuid.UUID) -> ProcessOffer:
    """The offer, if it was made to the caller's partner: another's is not found."""
    partner_id = _partner_of(caller)
    offer = session.get(ProcessOffer, offer_id)
    if offer is None or offer.partner_id != partner_id:
        raise not_found("offer")
    return offer


def shown(session: Session, offer_id: uuid.UUID) -> OfferPublic:
    """The offer as the read model holds it now (after an answer: its new status)."""
    session.expire_all()
    row = session.exec(_offers().where(ProcessOffer.id == offer_id)).first()
    if row is None:
        raise not_found("offer")
    return _public(*row)


async def accept(
    session: Session,
    temporal: Client,
    settings: Settings,
    caller: Caller,
    offer: ProcessOffer,
    update_id: str | None = None,
) -> ProcessDetail:
    """Take the offered step: the first partner to accept gets it (the workflow decides, so
    one wins however many accept at once; a later accept is a conflict). Answers the process
    as the partner sees it now, the customer included."""
    process = session.get(Process, offer.process_id)
    if process is None:
        raise not_found("offer")
    payload = AnswerOfferInput(offer_id=offer.id, actor=caller.actor())
    return await updated_detail(
        session, temporal, settings, caller, process,
        lambda handle: handle.execute_update(
            PartnerProcessWorkflow.accept_offer, payload, id=update_id
        ),
    )  # fmt: skip


async def decline(
    session: Session,
    temporal: Client,
    caller: Caller,
    offer: ProcessOffer,
    reason: str,
    update_id: str | None = None,
) -> OfferPublic:
    """Turn the offer down, saying why (required): the reason is stored here, the workflow
    gets its id and offers the step on (the next in rank, or nobody: then it waits for the
    others or its expiry). A refused decline takes its reason with it."""
    reason = steps.checked_reason(reason)
    if not reason:
        raise invalid("reason", "say why you turn the offer down: the contact person reads it")
    if len(reason) > MAX_REASON:
        raise invalid("reason", f"at most {MAX_REASON} characters")
    note_id = notes.write(
        session, process_id=offer.process_id, step_key=offer.step_key,
        kind="offer_decline_reason", author_id=caller.user.id, body=reason,
        partner_id=caller.partner_id,
        note_id=uuid.uuid5(NOTE_IDS, f"{caller.user.id}:{update_id}") if update_id else None,
    )  # fmt: skip
    payload = AnswerOfferInput(offer_id=offer.id, actor=caller.actor(), note_id=note_id)
    offer_id, process_id = offer.id, offer.process_id
    session.rollback()  # release SQLite's read snapshot while the workflow writes
    try:
        await run_update(
            temporal, process_id,
            lambda handle: handle.execute_update(
                PartnerProcessWorkflow.decline_offer, payload, id=update_id
            ),
        )  # fmt: skip
    except Refused as refused:
        # the workflow never took the note, nor ever will (processes.with_note)
        if refused.kind != "unavailable":
            notes.discard(session, note_id)
        raise
    return shown(session, offer_id)


def pending_count(session: Session, caller: Caller) -> int:
    """How many offers wait for the caller's partner (the portal's menu and task list)."""
    statement = _listed(caller, test=False)
    return session.exec(select(func.count()).select_from(statement.subquery())).one()
