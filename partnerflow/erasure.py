"""A customer's erasure: their personal data removed from the database; Temporal never had it.

The customer's data lives on the opportunity, and in what people wrote and uploaded about
its processes. Erasing blanks the opportunity (title, customer, attributes), deletes the
processes' documents (files and rows) and the answers stored for `Idempotency-Key` retries
that quoted it, overwrites comments and reasons, and reduces the e-mails in the outbox to an
audit line (kind, recipients, status, when; no subject or body). The processes stay, with
their ids, steps and dates. Workflow histories hold ids and keys only (workflows/messages.py),
so nothing in Temporal is erased.

A process still running could send the customer's data again: erasure refuses while one
runs unless asked to cancel them first, and waits until each workflow has ended (its last
e-mails are out) before erasing, so no e-mail is written to the outbox after its erasure.
"""

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import String, cast, delete, update
from sqlmodel import Session, col, select
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from partnerflow.db import utcnow
from partnerflow.models import (
    AutomationRun,
    Comment,
    Document,
    IdempotentResponse,
    Opportunity,
    OutboxEmail,
    Process,
    ProcessNote,
)
from partnerflow.refusals import Refused, conflict, not_found
from partnerflow.storage import DocumentStorage
from workflows.messages import Actor, CancelInput
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for

log = logging.getLogger(__name__)

ERASED = "[erased]"
# How long erasure waits for a cancelled process to send its last e-mails and end.
WAIT_FOR_END = timedelta(seconds=30)
# Timeline events whose `detail` held a person's text before reasons became notes.
_FREE_TEXT_EVENTS = ("step_skipped", "process_cancelled")


@dataclass
class Erasure:
    """What an erasure did, in counts and ids: nothing of what it erased."""

    opportunity_id: uuid.UUID
    erased_at: datetime
    processes: list[uuid.UUID] = field(default_factory=list)
    cancelled: list[uuid.UUID] = field(default_factory=list)
    documents_deleted: int = 0
    comments_erased: int = 0
    notes_erased: int = 0
    emails_redacted: int = 0
    stored_answers_deleted: int = 0


async def erase_customer(
    session: Session,
    temporal: Client,
    storage: DocumentStorage,
    opportunity_id: uuid.UUID,
    admin: Actor,
    *,
    cancel: bool,
) -> Erasure:
    """Erase the opportunity's customer; `cancel` cancels its running processes first (else a
    running one is a refusal). Repeating it is harmless: it erases what came since."""
    opportunity = session.get(Opportunity, opportunity_id)
    if opportunity is None:
        raise not_found("opportunity")
    if session.exec(
        select(AutomationRun.id).where(
            AutomationRun.opportunity_id == opportunity_id, AutomationRun.outcome == "starting"
        )
    ).first():
        raise conflict("an automation is starting a process for this opportunity: ask again")
    processes = list(session.exec(select(Process).where(Process.opportunity_id == opportunity_id)))
    process_ids = [p.id for p in processes]
    running = [p.id for p in processes if p.status == "running"]
    customer_email = str(opportunity.customer.get("email") or "").lower()
    if running and not cancel:
        raise conflict(
            f"process {running[0]} is running (of {len(running)}): cancel it first, "
            "or erase with ?cancel=true",
        )
    # Marked before cancelling, and committed: a start, a change or an automation run asked
    # for meanwhile is refused, so no process comes into being that this erasure would miss.
    _mark_erasing(session, opportunity_id, utcnow())
    try:
        for process_id in running:
            await _cancel(temporal, process_id, admin)
        for process_id in process_ids:
            await _until_ended(temporal, process_id)
        erasure = Erasure(
            opportunity_id=opportunity_id,
            erased_at=utcnow(),
            processes=process_ids,
            cancelled=running,
        )
        _refuse_unseen(session, erasure)
        _erase_rows(session, storage, admin.user_id, customer_email, erasure)
    except BaseException:
        # Refused (or failed) before erasing: the opportunity is usable again; asking again
        # marks it anew.
        session.rollback()
        _mark_erasing(session, opportunity_id, None)
        raise
    log.info(
        "opportunity %s: customer data erased by user %s (%d processes)",
        opportunity_id, admin.user_id, len(process_ids),
    )  # fmt: skip
    return erasure


def _mark_erasing(session: Session, opportunity_id: uuid.UUID, since: datetime | None) -> None:
    session.execute(
        update(Opportunity)
        .where(col(Opportunity.id) == opportunity_id, col(Opportunity.erased_at).is_(None))
        .values(erasing_since=since)
    )
    session.commit()


def _refuse_unseen(session: Session, erasure: Erasure) -> None:
    """A process running now that this erasure did not see (started before the mark was
    committed, recorded after the list was read) would keep the customer's data: refused,
    and asking again sees and cancels it. Ended ones are erased with the rest."""
    processes = session.exec(
        select(Process).where(Process.opportunity_id == erasure.opportunity_id)
    ).all()
    unseen = [p.id for p in processes if p.status == "running" and p.id not in erasure.processes]
    if unseen:
        raise conflict(
            f"process {unseen[0]} was started during the erasure: ask again to cancel it too",
        )
    erasure.processes = [p.id for p in processes]


async def _cancel(temporal: Client, process_id: uuid.UUID, admin: Actor) -> None:
    handle = temporal.get_workflow_handle_for(
        PartnerProcessWorkflow.run, workflow_id_for(process_id)
    )
    try:
        await handle.execute_update(PartnerProcessWorkflow.cancel, CancelInput(actor=admin))
    except WorkflowUpdateFailedError:
        pass  # ended meanwhile (completed or cancelled by someone else): what we wanted
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise Refused(
                "unavailable", f"process {process_id} could not be cancelled: ask again"
            ) from error


async def _until_ended(temporal: Client, process_id: uuid.UUID) -> None:
    """Until the process's workflow has ended: it ends only once its last e-mail is out."""
    handle = temporal.get_workflow_handle(workflow_id_for(process_id))
    try:
        described = await handle.describe()
        if described.status != WorkflowExecutionStatus.RUNNING:
            return
        await asyncio.wait_for(handle.result(), WAIT_FOR_END.total_seconds())
    except WorkflowFailureError:
        return  # ended, if not well (terminated, timed out): nothing more can come of it
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return  # gone from Temporal (its retention passed): nothing more can come of it
        raise Refused("unavailable", "Temporal did not answer: ask again") from error
    except TimeoutError as error:
        raise conflict(
            f"process {process_id} is still sending its last e-mails: ask again later",
        ) from error


def _erase_rows(
    session: Session,
    storage: DocumentStorage,
    admin_id: uuid.UUID,
    customer_email: str,
    erasure: Erasure,
) -> None:
    opportunity_id, process_ids = erasure.opportunity_id, erasure.processes
    in_processes = col(Document.process_id).in_(process_ids)
    documents = list(session.exec(select(Document).where(in_processes)))
    # Files first: a failure after this leaves rows whose files are gone, which erasing
    # again removes; the other way round could leave files nobody knows of.
    for document in documents:
        storage.delete(document.storage_key)
    erasure.documents_deleted = len(documents)
    session.execute(delete(Document).where(in_processes))
    erasure.comments_erased = _overwrite(
        session, Comment, col(Comment.process_id).in_(process_ids), body=ERASED
    )
    erasure.notes_erased = _overwrite(
        session, ProcessNote, col(ProcessNote.process_id).in_(process_ids), body=ERASED
    )
    for process in session.exec(select(Process).where(col(Process.id).in_(process_ids))):
        if process.cancel_reason is not None:
            process.cancel_reason = ERASED
        process.timeline = [
            {**entry, "detail": None} if entry.get("event") in _FREE_TEXT_EVENTS else entry
            for entry in process.timeline
        ]
        session.add(process)
    erasure.emails_redacted = _redact_outbox(
        session, process_ids, customer_email, erasure.erased_at
    )
    # Stored answers of creating the opportunity, starting or completing its processes: each
    # quotes the opportunity's id (and, for processes, its customer).
    erasure.stored_answers_deleted = session.execute(
        delete(IdempotentResponse).where(
            cast(IdempotentResponse.body, String).contains(str(opportunity_id))
        )
    ).rowcount  # type: ignore[attr-defined]
    opportunity = session.get(Opportunity, opportunity_id)
    assert opportunity is not None
    opportunity.title = ERASED
    opportunity.customer = {"name": ERASED}
    opportunity.attributes = {}
    opportunity.erased_at = erasure.erased_at
    opportunity.erased_by = admin_id
    opportunity.erasing_since = None
    opportunity.updated_at = erasure.erased_at
    session.add(opportunity)
    session.commit()


def _overwrite(session: Session, table: type, where: object, **values: str) -> int:
    result = session.execute(update(table).where(where).values(**values))  # type: ignore[arg-type]
    return int(result.rowcount)  # type: ignore[attr-defined]


def _redact_outbox(
    session: Session, process_ids: list[uuid.UUID], customer_email: str, erased_at: datetime
) -> int:
    """Each e-mail about the processes becomes an audit line: what kind, to whom (partners'
    and staff's addresses; never the customer's), its status and when; no subject, no body."""
    emails = session.exec(
        select(OutboxEmail).where(
            col(OutboxEmail.process_id).in_(process_ids), OutboxEmail.subject != ERASED
        )
    )
    count = 0
    for email in emails:
        line = (
            f"The {email.kind} e-mail about process {email.process_id} was erased on "
            f"{erased_at:%Y-%m-%d} at the customer's request."
        )
        email.subject, email.html, email.text, email.error = ERASED, "", line, None
        if customer_email and customer_email in email.to.lower():
            email.to = ERASED
        session.add(email)
        count += 1
    return count
