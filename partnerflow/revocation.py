"""Cutting a partner off: revoked in the database at once, then every running process told.

Revoking is one database write: from then on the partner's users are refused (every token,
browser session and sign-in link checks the partner's status), and nothing more is sent to
it (the e-mail and notice activities check it too, partnerflow/partner_status.py). Then each
running process that has the partner bound gets the `partner_revoked` update: its open steps
go to the contact person, who is told. Those processes are found in the read model (steps
and bindings) and in Temporal's list (`PfPartners`, for one not yet recorded). A process
that cannot be reached now (Temporal away, a worker down, a crash before this ran) is told
by the reconciler, which looks each minute for running processes whose open steps a revoked
partner still holds: telling a process twice changes nothing.
"""

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, assert_never

from sqlalchemy import String, cast, update
from sqlmodel import Session, col, select
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from partnerflow import process_updates
from partnerflow.models import Partner, Process, ProcessOffer, ProcessStep
from partnerflow.process_updates import ONE_PROCESS
from partnerflow.refusals import not_found
from partnerflow.spec import OPEN_STATUSES
from partnerflow.template_mentions import running_processes_naming
from workflows.messages import PartnerRevokedInput
from workflows.partner_process import PartnerProcessWorkflow
from workflows.search_attributes import PF_PARTNERS

log = logging.getLogger(__name__)

REVOKED = "revoked"
# How long all processes together may take to answer (one: process_updates.ONE_PROCESS) before
# those left are the reconciler's: the admin's request does not wait for an unreachable Temporal.
ALL_PROCESSES = timedelta(seconds=30)
AT_ONCE = 8
# The reconciler's share per round; the rest waits for the next one.
PER_ROUND = 500

Told = Literal["handed_back", "nothing_left", "unreached"]
_TOLD: dict[process_updates.Sent, Told] = {
    "landed": "handed_back", "ended": "nothing_left", "unreached": "unreached",
}  # fmt: skip


@dataclass
class HandBack:
    """What became of the running processes that had the partner bound."""

    # their open steps went to the contact person, who was told
    handed_back: list[uuid.UUID] = field(default_factory=list)
    # nothing was left with the partner (told before, or ended meanwhile)
    nothing_left: list[uuid.UUID] = field(default_factory=list)
    # Temporal did not answer: the reconciler tells them
    unreached: list[uuid.UUID] = field(default_factory=list)


def revoke(session: Session, partner_id: uuid.UUID) -> Partner:
    """Mark the partner revoked and commit: its users are locked out from this moment on.
    Revoking again changes nothing."""
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise not_found("partner")
    # One conditional statement, not a write of what was read: an invitation accepted at the
    # same moment cannot overwrite it, and it cannot overwrite the acceptance's other columns.
    changed = session.execute(
        update(Partner)
        .where(col(Partner.id) == partner_id, col(Partner.status) != REVOKED)
        .values(status=REVOKED)
    )
    session.commit()
    if changed.rowcount:  # type: ignore[attr-defined]
        log.info("partner %s revoked", partner_id)
    session.refresh(partner)
    return partner


def bound_processes(session: Session, partner_id: uuid.UUID) -> set[uuid.UUID]:
    """Running processes that have the partner bound, as the read model shows them: a step
    assigned to it, a pending offer to it, or a slot (`partner_ids` holds every partner bound
    from the start)."""
    holding = select(ProcessStep.process_id).where(ProcessStep.assignee_partner_id == partner_id)
    # a step offered to it (from a pool the template does not name), not yet answered
    offered = select(ProcessOffer.process_id).where(
        ProcessOffer.partner_id == partner_id, ProcessOffer.status == "pending"
    )
    rows = session.exec(
        select(Process.id).where(
            Process.status == "running",
            col(Process.id).in_(holding)
            | col(Process.id).in_(offered)
            | cast(Process.partner_ids, String).contains(str(partner_id)),
        )
    )
    # a template version naming it (an escalation's `reassign_to`, an offer's partners): the
    # step goes to it only later, so no step or slot shows it yet
    return set(rows) | set(running_processes_naming(session, [partner_id]))


async def listed_in_temporal(temporal: Client, partner_id: uuid.UUID) -> set[uuid.UUID]:
    """Running processes Temporal lists with the partner (`PfPartners`): one started a moment
    ago may not be in the read model yet. Best effort: the reconciler covers the rest."""
    query = f"{PF_PARTNERS.name} = '{partner_id}' AND ExecutionStatus = 'Running'"
    found: set[uuid.UUID] = set()
    try:
        listing = temporal.list_workflows(query, limit=PER_ROUND, rpc_timeout=ONE_PROCESS)
        async for execution in listing:
            if execution.id.startswith("process-"):
                found.add(uuid.UUID(execution.id.removeprefix("process-")))
    except (RPCError, RPCTimeoutOrCancelledError, ValueError) as error:
        log.warning("listing the processes of partner %s failed: %s", partner_id, error)
    return found


async def tell(temporal: Client, process_id: uuid.UUID, partner_id: uuid.UUID) -> Told:
    """Send one process the `partner_revoked` update; safe to repeat."""
    sent = await process_updates.send(
        temporal,
        process_id,
        PartnerProcessWorkflow.partner_revoked,
        PartnerRevokedInput(partner_id=partner_id),
        f"partner {partner_id} revoked",
    )
    # refused or gone: it ended, or holds nothing of the partner's any more
    return _TOLD[sent]


async def hand_back(session: Session, temporal: Client, partner_id: uuid.UUID) -> HandBack:
    """Tell every running process that has the partner bound (a few at a time, within
    ALL_PROCESSES); those not reached are left to the reconciler."""
    process_ids = bound_processes(session, partner_id)
    session.rollback()  # hold no read transaction (SQLite's lock) while the workflows write
    try:
        process_ids |= await asyncio.wait_for(
            listed_in_temporal(temporal, partner_id), ONE_PROCESS.total_seconds()
        )
    except TimeoutError:
        log.warning("listing the processes of partner %s took too long", partner_id)
    told = await tell_all(temporal, [(pid, partner_id) for pid in sorted(process_ids, key=str)])
    result = HandBack()
    for (process_id, _), outcome in told.items():
        match outcome:
            case "handed_back":
                result.handed_back.append(process_id)
            case "nothing_left":
                result.nothing_left.append(process_id)
            case "unreached":
                result.unreached.append(process_id)
            case _:
                assert_never(outcome)
    return result


async def tell_all(
    temporal: Client, pairs: list[tuple[uuid.UUID, uuid.UUID]]
) -> dict[tuple[uuid.UUID, uuid.UUID], Told]:
    """Tell each (process, partner), a few at a time, within ALL_PROCESSES: processes that do
    not answer hold up neither the others nor the caller past that budget."""
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(process_id: uuid.UUID, partner_id: uuid.UUID) -> Told:
        async with gate:
            return await tell(temporal, process_id, partner_id)

    tasks = {asyncio.ensure_future(one(*pair)): pair for pair in pairs}
    if not tasks:
        return {}
    done, late = await asyncio.wait(tasks, timeout=ALL_PROCESSES.total_seconds())
    for task in late:
        task.cancel()
    return {pair: task.result() if task in done else "unreached" for task, pair in tasks.items()}


def still_holding(session: Session) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(process, partner) for each running process where a revoked partner still holds open
    steps or has an offer pending, per the read model: the reconciler's work."""
    holding = (
        select(ProcessStep.process_id, Partner.id)
        .join(Partner, col(Partner.id) == ProcessStep.assignee_partner_id)
        .join(Process, col(Process.id) == ProcessStep.process_id)
        .where(
            Partner.status == REVOKED,
            col(ProcessStep.status).in_(OPEN_STATUSES),
            Process.status == "running",
        )
    )
    # an offer made after the revocation (the process was not found then): withdrawn when told
    offered = (
        select(ProcessOffer.process_id, Partner.id)
        .join(Partner, col(Partner.id) == ProcessOffer.partner_id)
        .join(Process, col(Process.id) == ProcessOffer.process_id)
        .where(
            Partner.status == REVOKED,
            ProcessOffer.status == "pending",
            Process.status == "running",
        )
    )
    pairs = holding.union(offered).subquery()
    rows = session.execute(
        select(pairs.c.process_id, pairs.c.id).order_by(pairs.c.process_id).limit(PER_ROUND)
    )
    return [(process_id, partner_id) for process_id, partner_id in rows]
