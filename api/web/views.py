"""What the process pages share: a step's definition, comments, names, and the API's refusals."""

import uuid
from collections.abc import Iterable
from typing import Any

from fastapi import HTTPException
from pydantic import ValidationError
from sqlalchemy import and_
from sqlmodel import Session, col, select

from api.web.templating import DISPLAY_TIMEZONE
from partnerflow.models import (
    Comment,
    Document,
    Partner,
    Process,
    ProcessTemplate,
    ProcessTemplateVersion,
    User,
)
from partnerflow.process_templates import published_version
from workflows.messages import StepSpec


def step_specs(session: Session, process: Process) -> dict[str, StepSpec]:
    """The definition of each step the process runs on: its published version, or for a test
    run of a draft (version 0), the template as it is now."""
    version = published_version(session, process.template_id, process.template_version)
    if version is not None:
        raw = version.snapshot.get("steps", [])
    else:
        template = session.get(ProcessTemplate, process.template_id)
        raw = template.steps if template else []
    specs = [StepSpec.model_validate(step) for step in raw]
    return {spec.key: spec for spec in specs}


def template_of(session: Session, process: Process) -> ProcessTemplate | None:
    return session.get(ProcessTemplate, process.template_id)


def timezone_of(session: Session, process: Process) -> str:
    """The time zone the process runs in: its deadlines, its history and what a person types
    into its forms are all shown and read in it."""
    return timezones_of(session, [process.id]).get(process.id, DISPLAY_TIMEZONE)


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
        process_id: (snapshot or {}).get("timezone") or template_zone or DISPLAY_TIMEZONE
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


def names_of(
    session: Session, partner_ids: set[uuid.UUID], user_ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Partners' and users' names by id, in one query each."""
    names: dict[uuid.UUID, str] = {}
    if partner_ids:
        partners = session.exec(select(Partner).where(col(Partner.id).in_(partner_ids)))
        names.update({partner.id: partner.name for partner in partners})
    if user_ids:
        users = session.exec(select(User).where(col(User.id).in_(user_ids)))
        names.update({user.id: user.name for user in users})
    return names


def assignee_names(session: Session, assignees: list[dict[str, Any]]) -> list[str]:
    """Each assignee in words: the partner's or user's name, or 'contact person'."""

    def ids(kind: str) -> set[uuid.UUID]:
        return {uuid.UUID(str(a[f"{kind}_id"])) for a in assignees if a.get("type") == kind}

    known = names_of(session, ids("partner"), ids("user"))
    names = []
    for assignee in assignees:
        kind = assignee.get("type")
        if kind in ("partner", "user"):
            name = known.get(uuid.UUID(str(assignee[f"{kind}_id"])))
            names.append(name or f"a {kind}")
        elif kind == "partner_slot":
            names.append(f"partner ({assignee.get('slot')})")
        else:
            names.append("contact person")
    return names


def refusal(error: HTTPException | ValidationError) -> str:
    """The API's refusal as one sentence a person can act on."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    detail = error.detail
    if isinstance(detail, list) and detail:
        first = detail[0]
        loc = [str(part) for part in first.get("loc", []) if part not in ("body", "query")]
        message = str(first.get("msg", "not valid"))
        return f"{'.'.join(loc)}: {message}" if loc else message
    return str(detail)


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
