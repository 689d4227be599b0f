"""What the process pages share: a step's definition, its time zone, comments and documents."""

import uuid
from collections.abc import Iterable

from sqlalchemy import and_
from sqlmodel import Session, col, select

from partnerflow.models import (
    Comment,
    Document,
    Process,
    ProcessTemplate,
    ProcessTemplateVersion,
)
from partnerflow.process_templates import published_version
from partnerflow.settings import get_settings
from partnerflow.spec import StepSpec


def step_specs(session: Session, process: Process) -> dict[str, StepSpec]:
    """The definition of each step the process runs on: its published version, or for a test
    run of a draft (version 0), the template as it is now."""
    version = published_version(session, process.template_id, process.template_version)
    if version is not None:
        specs = [StepSpec.model_validate(step) for step in version.snapshot.get("steps", [])]
    else:
        template = session.get(ProcessTemplate, process.template_id)
        specs = template.step_specs() if template else []
    return {spec.key: spec for spec in specs}


def template_of(session: Session, process: Process) -> ProcessTemplate | None:
    return session.get(ProcessTemplate, process.template_id)


def timezone_of(session: Session, process: Process) -> str:
    """The time zone the process runs in: its deadlines, its history and what a person types
    into its forms are all shown and read in it."""
    return timezones_of(session, [process.id]).get(process.id, get_settings().default_timezone)


def timezones_of(session: Session, process_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each process's time zone: the one of the version it runs on (its deadlines were set
    in it, even if the template moved to another zone since), the template's for a test run
    of a draft (version 0)."""
    rows = session.exec(
        select(Process.id, ProcessTemplateVersion.snapshot, ProcessTemplate.timezone)
        .join(ProcessTemplate, col(ProcessTemplate.id) == Process.template_id)
        .outerjoin(
            ProcessTemplateVersion,
            and_(
                col(ProcessTemplateVersion.template_id) == Process.template_id,
                col(ProcessTemplateVersion.version) == Process.template_version,
            ),
        )
        .where(col(Process.id).in_(set(process_ids)))
    )
    return {
        process_id: (snapshot or {}).get("timezone")
        or template_zone
        or get_settings().default_timezone
        for process_id, snapshot, template_zone in rows
    }


def comments_by_step(
    session: Session, process_id: uuid.UUID, step_key: str | None = None
) -> dict[str, list[Comment]]:
    """The process's comments (or one step's), each step's in the order they were written."""
    statement = select(Comment).where(Comment.process_id == process_id)
    if step_key is not None:
        statement = statement.where(Comment.step_key == step_key)
    grouped: dict[str, list[Comment]] = {}
    for comment in session.exec(statement.order_by(col(Comment.created_at))):
        grouped.setdefault(comment.step_key, []).append(comment)
    return grouped


def uploaded_counts(session: Session, process_id: uuid.UUID, step_key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for document_type in session.exec(
        select(Document.type).where(
            Document.process_id == process_id,
            Document.step_key == step_key,
            Document.status == "attached",
        )
    ):
        counts[document_type] = counts.get(document_type, 0) + 1
    return counts
