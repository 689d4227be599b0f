"""Which running processes run on a template version that names an id (a partner, a user): an
escalation's `reassign_to`, a review by a named user, an offer's partners. Such a process
shows the id in no step, slot or binding until the moment comes, yet must be told when that
partner is revoked or that user is away.

A test run of an unpublished draft carries version 0 (`DRAFT_VERSION`): its draft's steps
count for it. The versions are found by the id's text in their stored snapshot.
"""

import uuid
from collections.abc import Iterable

from sqlalchemy import String, cast
from sqlmodel import Session, col, select

from partnerflow.models import Process, ProcessTemplate, ProcessTemplateVersion

# A test run of an unpublished draft carries version 0.
DRAFT_VERSION = 0


def running_processes_naming(session: Session, ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """The running processes whose template version (or draft, for a test run) names any of
    the ids, oldest first."""
    versions: set[tuple[uuid.UUID, int]] = set()
    drafts: set[uuid.UUID] = set()
    for named in sorted(set(ids), key=str):
        versions |= {
            (row.template_id, row.version)
            for row in session.exec(
                select(ProcessTemplateVersion).where(
                    cast(ProcessTemplateVersion.snapshot, String).contains(str(named))
                )
            )
        }
        drafts |= set(
            session.exec(
                select(ProcessTemplate.id).where(
                    cast(ProcessTemplate.steps, String).contains(str(named))
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
        or (p.template_version == DRAFT_VERSION and p.template_id in drafts)
    ]
