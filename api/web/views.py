"""What the process pages share: a step's definition, comments, names, and the API's refusals."""

import uuid
from typing import Any

from fastapi import HTTPException
from pydantic import ValidationError
from sqlmodel import Session, col, select

from partnerflow.models import (
    Comment,
    Document,
    Opportunity,
    Partner,
    Process,
    ProcessTemplate,
    ProcessTemplateVersion,
    User,
)
from workflows.messages import StepSpec


def step_specs(session: Session, process: Process) -> dict[str, StepSpec]:
    """The definition of each step the process runs on: its published version, or for a test
    run of a draft (version 0), the template as it is now."""
    version = session.exec(
        select(ProcessTemplateVersion).where(
            ProcessTemplateVersion.template_id == process.template_id,
            ProcessTemplateVersion.version == process.template_version,
        )
    ).first()
    if version is not None:
        raw = version.snapshot.get("steps", [])
    else:
        template = session.get(ProcessTemplate, process.template_id)
        raw = template.steps if template else []
    specs = [StepSpec.model_validate(step) for step in raw]
    return {spec.key: spec for spec in specs}


def template_of(session: Session, process: Process) -> ProcessTemplate | None:
    return session.get(ProcessTemplate, process.template_id)


def opportunity_of(session: Session, process: Process) -> Opportunity | None:
    return session.get(Opportunity, process.opportunity_id)


def comments_by_step(session: Session, process_id: uuid.UUID) -> dict[str, list[Comment]]:
    grouped: dict[str, list[Comment]] = {}
    for comment in session.exec(
        select(Comment).where(Comment.process_id == process_id).order_by(col(Comment.created_at))
    ):
        grouped.setdefault(comment.step_key, []).append(comment)
    return grouped


def assignee_names(session: Session, assignees: list[dict[str, Any]]) -> list[str]:
    """Each assignee in words: the partner's or user's name, or 'contact person'."""
    names = []
    for assignee in assignees:
        kind = assignee.get("type")
        if kind == "partner":
            partner = session.get(Partner, uuid.UUID(str(assignee["partner_id"])))
            names.append(partner.name if partner else "a partner")
        elif kind == "user":
            user = session.get(User, uuid.UUID(str(assignee["user_id"])))
            names.append(user.name if user else "a user")
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
            Document.process_id == process_id, Document.step_key == step_key
        )
    ):
        counts[document_type] = counts.get(document_type, 0) + 1
    return counts
