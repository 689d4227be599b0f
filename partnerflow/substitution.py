"""Telling running processes of a staff user's absence: which processes name the user, and the
`absence` update to one of them (AbsenceWorkflow's activity, activities/absences.py).

A process names a user when they are its contact person, the assignee or reviewer of one of
its open or pending steps (the read model), or when its template's version names them (a
review or an escalation that reaches them later). Telling a process twice changes nothing.
A process told of an absence is told first of the absences of those standing in (a substitute
away too): their steps then go to whoever is there (`standing_in_for`).
"""

import logging
import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import or_, update
from sqlmodel import Session, col, select
from temporalio.client import Client

from partnerflow import process_updates
from partnerflow.db import utcnow
from partnerflow.models import Absence, Process, ProcessStep
from partnerflow.spec import OPEN_STATUSES
from partnerflow.template_mentions import running_processes_naming
from workflows import messages
from workflows.messages import AbsenceInput
from workflows.partner_process import PartnerProcessWorkflow

log = logging.getLogger(__name__)

Told = Literal["told", "passed_over", "unreached"]
_TOLD: dict[process_updates.Sent, Told] = {
    "landed": "told", "ended": "passed_over", "unreached": "unreached",
}  # fmt: skip


def processes_naming(session: Session, user_ids: set[uuid.UUID]) -> list[uuid.UUID]:
    """The running processes that name any of the users, oldest first."""
    if not user_ids:
        return []
    ids = sorted(user_ids, key=str)
    holding = select(ProcessStep.process_id).where(
        col(ProcessStep.status).in_(OPEN_STATUSES),
        or_(col(ProcessStep.assignee_user_id).in_(ids), col(ProcessStep.reviewer_user_id).in_(ids)),
    )
    found = list(
        session.exec(
            select(Process.id)
            .where(
                Process.status == "running",
                or_(col(Process.contact_user_id).in_(ids), col(Process.id).in_(holding)),
            )
            .order_by(col(Process.started_at), col(Process.id))
        )
    )
    seen = set(found)
    found += [p for p in running_processes_naming(session, ids) if p not in seen]
    return found


def is_current(session: Session, user_id: uuid.UUID, absence_id: uuid.UUID | None) -> bool:
    """Is `absence_id` the user's absence now (None: the user has none)? A round for an
    absence replaced or withdrawn since stops: the newer one's round tells the processes."""
    current = session.exec(select(Absence.id).where(Absence.user_id == user_id)).first()
    return current == absence_id


def mark_moved(session: Session, absence_id: uuid.UUID) -> None:
    """The absence has begun and every process was told: its row says when (once)."""
    session.execute(
        update(Absence)
        .where(col(Absence.id) == absence_id, col(Absence.moved_at).is_(None))
        .values(moved_at=utcnow())
    )
    session.commit()


def standing_in_for(session: Session, user_id: uuid.UUID, now: datetime) -> list[AbsenceInput]:
    """What a process must know before a step of the user's opens there: the user's absence
    not over (running or to come), and those of whoever stands in (a substitute away too,
    and so on, once each), the last in line first, so each step moves once."""
    chain: list[AbsenceInput] = []
    seen: set[uuid.UUID] = set()
    next_one: uuid.UUID | None = user_id
    while next_one is not None and next_one not in seen:
        seen.add(next_one)
        row = session.exec(
            select(Absence).where(Absence.user_id == next_one, col(Absence.ends_at) > now)
        ).first()
        if row is None:
            break
        chain.append(AbsenceInput(user_id=row.user_id, absence=as_message(row)))
        next_one = row.substitute_user_id
    return chain[::-1]


def as_message(row: Absence) -> messages.Absence:
    """An absence as a process holds it: ids and moments."""
    return messages.Absence(
        user_id=row.user_id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        substitute_user_id=row.substitute_user_id,
    )


async def tell_in_turn(
    temporal: Client, process_id: uuid.UUID, changes: list[AbsenceInput]
) -> Told:
    """Send one process each change in turn: what the first that was not `told` came to."""
    for change in changes:
        told = await tell(temporal, process_id, change)
        if told != "told":
            return told
    return "told"


async def tell(temporal: Client, process_id: uuid.UUID, change: AbsenceInput) -> Told:
    """Send one process the `absence` update; safe to repeat."""
    sent = await process_updates.send(
        temporal, process_id, PartnerProcessWorkflow.absence, change, "an absence"
    )
    return _TOLD[sent]
