"""Telling running processes of a staff user's absence: which processes name the user, and the
`absence` update to one of them (AbsenceWorkflow's activity, activities/absences.py).

A process names a user when they are its contact person, the assignee or reviewer of one of
its open or pending steps (the read model), or when its template's version names them (a
review or an escalation that reaches them later). Telling a process twice changes nothing.
"""

import logging
import uuid
from datetime import timedelta
from typing import Literal

from sqlalchemy import String, cast, or_, update
from sqlmodel import Session, col, select
from temporalio.client import Client, RPCTimeoutOrCancelledError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from partnerflow.db import utcnow
from partnerflow.models import (
    Absence,
    Process,
    ProcessStep,
    ProcessTemplate,
    ProcessTemplateVersion,
)
from partnerflow.spec import OPEN_STATUSES
from workflows.messages import AbsenceInput
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for

log = logging.getLogger(__name__)

# How long one process may take to answer before it counts as unreached (told again later).
ONE_PROCESS = timedelta(seconds=10)
# A test run of an unpublished draft carries version 0 (partnerflow/starting.py).
_DRAFT_VERSION = 0

Told = Literal["told", "passed_over", "unreached"]


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
    found += [p for p in _named_by_template(session, ids) if p not in seen]
    return found


def _named_by_template(session: Session, user_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Running processes whose template version (or draft, for a test run) names a user."""
    versions: set[tuple[uuid.UUID, int]] = set()
    drafts: set[uuid.UUID] = set()
    for user_id in user_ids:
        versions |= {
            (row.template_id, row.version)
            for row in session.exec(
                select(ProcessTemplateVersion).where(
                    cast(ProcessTemplateVersion.snapshot, String).contains(str(user_id))
                )
            )
        }
        drafts |= set(
            session.exec(
                select(ProcessTemplate.id).where(
                    cast(ProcessTemplate.steps, String).contains(str(user_id))
                )
            )
        )
    template_ids = {t for t, _ in versions} | drafts
    if not template_ids:
        return []
    running = session.exec(
        select(Process)
        .where(Process.status == "running", col(Process.template_id).in_(template_ids))
        .order_by(col(Process.started_at), col(Process.id))
    )
    return [
        p.id
        for p in running
        if (p.template_id, p.template_version) in versions
        or (p.template_version == _DRAFT_VERSION and p.template_id in drafts)
    ]


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


async def tell(temporal: Client, process_id: uuid.UUID, change: AbsenceInput) -> Told:
    """Send one process the `absence` update; safe to repeat."""
    handle = temporal.get_workflow_handle_for(
        PartnerProcessWorkflow.run, workflow_id_for(process_id)
    )
    try:
        await handle.execute_update(PartnerProcessWorkflow.absence, change, rpc_timeout=ONE_PROCESS)
    except WorkflowUpdateFailedError:
        return "passed_over"  # refused: it ended meanwhile
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return "passed_over"  # ended (and perhaps gone from Temporal)
        log.warning("process %s not told of an absence: %s", process_id, error.status.name)
        return "unreached"
    except RPCTimeoutOrCancelledError:
        return "unreached"
    return "told"
