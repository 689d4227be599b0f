"""Process templates as the builder keeps them: drafts, published versions, archiving, replacing.

The JSON API (api/routes/process_templates.py) and the builder's pages both call these;
a refusal is `Refused`, with `loc` the path into the template's body.
"""

import copy
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import delete as delete_rows
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from partnerflow.db import utcnow
from partnerflow.models import Automation, Process, ProcessTemplate, ProcessTemplateVersion, User
from partnerflow.process_templates import check_steps, check_timezone, snapshot
from partnerflow.refusals import conflict, invalid, not_found
from partnerflow.settings import get_settings
from partnerflow.spec import Language, StepSpec

TemplateStatus = Literal["draft", "published", "archived"]


class ProcessTemplateCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    language: Language = "de"
    timezone: str = Field(default_factory=lambda: get_settings().default_timezone, max_length=64)
    contact_user_id: uuid.UUID | None = None
    steps: list[StepSpec] = Field(min_length=1, max_length=200)


class ProcessTemplatePublic(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    language: str
    timezone: str
    contact_user_id: uuid.UUID
    steps: list[StepSpec]
    status: TemplateStatus
    published_version: int | None
    draft_pending: bool
    created_at: datetime
    updated_at: datetime


class ReplaceResult(BaseModel):
    replaced_automations: list[uuid.UUID]
    running_processes: int = Field(
        description="real (not test) processes of the old template still running; they "
        "finish on their version"
    )
    archived: bool


def public(template: ProcessTemplate) -> ProcessTemplatePublic:
    if template.archived:
        state: TemplateStatus = "archived"
    else:
        state = "published" if template.published_version is not None else "draft"
    return ProcessTemplatePublic(**{**template.model_dump(), "status": state})


def listed(
    name: str | None = None, status: TemplateStatus | None = None
) -> SelectOfScalar[ProcessTemplate]:
    """The templates by name: those whose name contains `name`, in `status`."""
    statement = select(ProcessTemplate).order_by(ProcessTemplate.name)
    if name:
        statement = statement.where(func.lower(ProcessTemplate.name).contains(name.lower()))
    if status == "archived":
        statement = statement.where(col(ProcessTemplate.archived).is_(True))
    elif status is not None:
        statement = statement.where(col(ProcessTemplate.archived).is_(False))
        published = col(ProcessTemplate.published_version)
        statement = statement.where(
            published.is_not(None) if status == "published" else published.is_(None)
        )
    return statement


def get(session: Session, template_id: uuid.UUID) -> ProcessTemplatePublic:
    return public(_get(session, template_id))


def create(session: Session, body: ProcessTemplateCreate, author: User) -> ProcessTemplatePublic:
    """A new draft; its contact person is the author unless the body names one."""
    _check(session, body)
    template = ProcessTemplate(
        **body.model_dump(mode="json", exclude={"contact_user_id", "steps"}),
        contact_user_id=body.contact_user_id or author.id,
        steps=_stored_steps(body.steps),
    )
    session.add(template)
    session.commit()
    return public(template)


def update(
    session: Session, template_id: uuid.UUID, body: ProcessTemplateCreate
) -> ProcessTemplatePublic:
    """Replace the content. A published version stays as it was; this becomes the draft."""
    template = _get(session, template_id)
    if template.archived:
        raise conflict("an archived template cannot be edited")
    _check(session, body)
    for name, value in body.model_dump(mode="json", exclude={"contact_user_id", "steps"}).items():
        setattr(template, name, value)
    if body.contact_user_id is not None:
        template.contact_user_id = body.contact_user_id
    template.steps = _stored_steps(body.steps)
    template.draft_pending = True
    template.updated_at = utcnow()
    session.add(template)
    session.commit()
    return public(template)


def delete(session: Session, template_id: uuid.UUID) -> None:
    """Gone with its versions, unless a process ran on it or an automation starts it."""
    template = _get(session, template_id)
    started = session.exec(
        select(func.count()).select_from(Process).where(Process.template_id == template.id)
    ).one()
    if started:
        raise conflict(f"{started} processes ran on this template; archive it instead")
    starting = session.exec(
        select(func.count()).select_from(Automation).where(Automation.template_id == template.id)
    ).one()
    if starting:
        raise conflict(f"{starting} automations start this template; point them elsewhere first")
    session.execute(
        delete_rows(ProcessTemplateVersion).where(
            col(ProcessTemplateVersion.template_id) == template.id
        )
    )
    session.delete(template)
    session.commit()


def archive(session: Session, template_id: uuid.UUID) -> ProcessTemplatePublic:
    """Archived templates start nothing; running processes finish on their version."""
    template = _get(session, template_id)
    template.archived = True
    template.updated_at = utcnow()
    session.add(template)
    session.commit()
    return public(template)


def duplicate(
    session: Session, template_id: uuid.UUID, name: str | None = None
) -> ProcessTemplatePublic:
    """A new, independent draft with every step of the original's current content."""
    original = _get(session, template_id)
    copied = ProcessTemplate(
        name=name or f"{original.name} (copy)"[:200],
        description=original.description,
        language=original.language,
        timezone=original.timezone,
        contact_user_id=original.contact_user_id,
        steps=copy.deepcopy(original.steps),
    )
    session.add(copied)
    session.commit()
    return public(copied)


def publish(session: Session, template_id: uuid.UUID) -> ProcessTemplatePublic:
    """The draft as the next version; nothing new when the draft is the published version."""
    template = _get(session, template_id)
    if template.archived:
        raise conflict("an archived template cannot be published")
    if not template.draft_pending:
        return public(template)
    # What the steps name may have gone since the draft was saved: check again.
    _check(session, ProcessTemplateCreate.model_validate(template.model_dump()))
    latest = session.exec(
        select(func.max(ProcessTemplateVersion.version)).where(
            ProcessTemplateVersion.template_id == template.id
        )
    ).one()
    version = (latest or 0) + 1
    frozen = snapshot(template, version)
    session.add(
        ProcessTemplateVersion(
            template_id=template.id, version=version, snapshot=frozen.model_dump(mode="json")
        )
    )
    template.published_version = version
    template.draft_pending = False
    template.updated_at = utcnow()
    session.add(template)
    session.commit()
    return public(template)


def replace(
    session: Session, template_id: uuid.UUID, replacement_id: uuid.UUID, archive_old: bool
) -> ReplaceResult:
    """Point every automation that starts this template at the replacement, in one go."""
    old = _get(session, template_id)
    if replacement_id == template_id:
        raise invalid("replacement_id", "a template cannot replace itself")
    replacement = session.get(ProcessTemplate, replacement_id)
    if replacement is None:
        raise invalid("replacement_id", "no process template with this id")
    if replacement.archived or replacement.published_version is None:
        raise conflict("the replacement must be published (and not archived)")
    automations = session.exec(
        select(Automation).where(Automation.template_id == template_id)
    ).all()
    for automation in automations:
        automation.template_id = replacement.id
        automation.updated_at = utcnow()
        session.add(automation)
    if archive_old:
        old.archived = True
        old.updated_at = utcnow()
        session.add(old)
    running = session.exec(
        select(func.count())
        .select_from(Process)
        .where(
            Process.template_id == template_id,
            Process.status == "running",
            col(Process.test).is_(False),
        )
    ).one()
    session.commit()
    return ReplaceResult(
        replaced_automations=[a.id for a in automations],
        running_processes=running,
        archived=old.archived,
    )


def _get(session: Session, template_id: uuid.UUID) -> ProcessTemplate:
    template = session.get(ProcessTemplate, template_id)
    if template is None:
        raise not_found("process template")
    return template


def _check(session: Session, body: ProcessTemplateCreate) -> None:
    check_timezone(body.timezone)
    check_steps(session, body.steps)
    if body.contact_user_id is not None:
        contact = session.get(User, body.contact_user_id)
        if contact is None or contact.partner_id is not None:
            raise invalid("contact_user_id", "no user of the company with this id")


def _stored_steps(steps: list[StepSpec]) -> list[dict[str, Any]]:
    return [step.model_dump(mode="json", exclude_none=True) for step in steps]
