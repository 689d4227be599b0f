"""Process templates: the process builder's object, its drafts and published versions."""

import copy
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from fastapi import Path as FastAPIPath
from pydantic import BaseModel, Field
from sqlalchemy import delete
from sqlmodel import Session, col, func, select

from api.deps import PageDep, SessionDep, StaffCaller
from api.errors import conflict, invalid, not_found
from api.listing import Page, fetch_page
from partnerflow.db import utcnow
from partnerflow.models import Automation, Process, ProcessTemplate, ProcessTemplateVersion, User
from partnerflow.process_templates import (
    StepProblem,
    check_steps,
    check_timezone,
    published_version,
    snapshot,
)
from workflows.messages import StepSpec

router = APIRouter(prefix="/api/process-templates", tags=["process templates"])


TemplateStatus = Literal["draft", "published", "archived"]


class ProcessTemplateCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    language: Literal["de", "en"] = "de"
    timezone: str = Field(default="Europe/Berlin", max_length=64)
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


class VersionPublic(BaseModel):
    version: int
    created_at: datetime


class VersionDetail(VersionPublic):
    steps: list[StepSpec]


class DuplicateRequest(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)


def _public(template: ProcessTemplate) -> ProcessTemplatePublic:
    if template.archived:
        state: TemplateStatus = "archived"
    else:
        state = "published" if template.published_version is not None else "draft"
    return ProcessTemplatePublic(**{**template.model_dump(), "status": state})


def _checked(session: Session, body: ProcessTemplateCreate) -> None:
    try:
        check_timezone(body.timezone)
        check_steps(session, body.steps)
    except StepProblem as problem:
        invalid(problem.loc, problem.message)
    if body.contact_user_id is not None:
        contact = session.get(User, body.contact_user_id)
        if contact is None or contact.partner_id is not None:
            invalid("contact_user_id", "no user of the company with this id")


def _stored_steps(steps: list[StepSpec]) -> list[dict[str, Any]]:
    return [step.model_dump(mode="json", exclude_none=True) for step in steps]


def _get(session: Session, template_id: uuid.UUID) -> ProcessTemplate:
    template = session.get(ProcessTemplate, template_id)
    if template is None:
        not_found("process template")
    return template


@router.post("", status_code=status.HTTP_201_CREATED)
def create_process_template(
    body: ProcessTemplateCreate, session: SessionDep, caller: StaffCaller
) -> ProcessTemplatePublic:
    _checked(session, body)
    template = ProcessTemplate(
        **body.model_dump(mode="json", exclude={"contact_user_id", "steps"}),
        contact_user_id=body.contact_user_id or caller.user.id,
        steps=_stored_steps(body.steps),
    )
    session.add(template)
    session.commit()
    return _public(template)


@router.get("")
def list_process_templates(
    session: SessionDep,
    _: StaffCaller,
    page: PageDep,
    name: Annotated[str | None, Query(max_length=200, description="name contains")] = None,
    status_filter: Annotated[TemplateStatus | None, Query(alias="status")] = None,
) -> Page[ProcessTemplatePublic]:
    statement = select(ProcessTemplate).order_by(ProcessTemplate.name)
    if name:
        statement = statement.where(func.lower(ProcessTemplate.name).contains(name.lower()))
    if status_filter == "archived":
        statement = statement.where(col(ProcessTemplate.archived).is_(True))
    elif status_filter is not None:
        statement = statement.where(col(ProcessTemplate.archived).is_(False))
        published = col(ProcessTemplate.published_version)
        statement = statement.where(
            published.is_not(None) if status_filter == "published" else published.is_(None)
        )
    rows, count = fetch_page(session, statement, page)
    return Page(data=[_public(t) for t in rows], count=count)


@router.get("/{template_id}")
def get_process_template(
    template_id: uuid.UUID, session: SessionDep, _: StaffCaller
) -> ProcessTemplatePublic:
    return _public(_get(session, template_id))


@router.put("/{template_id}")
def update_process_template(
    template_id: uuid.UUID, body: ProcessTemplateCreate, session: SessionDep, _: StaffCaller
) -> ProcessTemplatePublic:
    """Replace the content. A published version stays as it was; this becomes the draft."""
    template = _get(session, template_id)
    if template.archived:
        conflict("an archived template cannot be edited")
    _checked(session, body)
    for name, value in body.model_dump(mode="json", exclude={"contact_user_id", "steps"}).items():
        setattr(template, name, value)
    if body.contact_user_id is not None:
        template.contact_user_id = body.contact_user_id
    template.steps = _stored_steps(body.steps)
    template.draft_pending = True
    template.updated_at = utcnow()
    session.add(template)
    session.commit()
    return _public(template)


@router.delete("/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_process_template(template_id: uuid.UUID, session: SessionDep, _: StaffCaller) -> None:
    template = _get(session, template_id)
    started = session.exec(
        select(func.count()).select_from(Process).where(Process.template_id == template.id)
    ).one()
    if started:
        conflict(f"{started} processes ran on this template; archive it instead")
    starting = session.exec(
        select(func.count()).select_from(Automation).where(Automation.template_id == template.id)
    ).one()
    if starting:
        conflict(f"{starting} automations start this template; point them elsewhere first")
    session.execute(
        delete(ProcessTemplateVersion).where(col(ProcessTemplateVersion.template_id) == template.id)
    )
    session.delete(template)
    session.commit()


@router.post("/{template_id}/archive")
def archive_process_template(
    template_id: uuid.UUID, session: SessionDep, _: StaffCaller
) -> ProcessTemplatePublic:
    """Archived templates start nothing; running processes finish on their version."""
    template = _get(session, template_id)
    template.archived = True
    template.updated_at = utcnow()
    session.add(template)
    session.commit()
    return _public(template)


@router.post("/{template_id}/duplicate", status_code=status.HTTP_201_CREATED)
def duplicate_process_template(
    template_id: uuid.UUID,
    session: SessionDep,
    _: StaffCaller,
    body: DuplicateRequest | None = None,
) -> ProcessTemplatePublic:
    """A new, independent draft with every step of the original's current content."""
    original = _get(session, template_id)
    name = body.name if body and body.name else f"{original.name} (copy)"[:200]
    duplicate = ProcessTemplate(
        name=name,
        description=original.description,
        language=original.language,
        timezone=original.timezone,
        contact_user_id=original.contact_user_id,
        steps=copy.deepcopy(original.steps),
    )
    session.add(duplicate)
    session.commit()
    return _public(duplicate)


@router.post("/{template_id}/publish")
def publish_process_template(
    template_id: uuid.UUID, session: SessionDep, _: StaffCaller
) -> ProcessTemplatePublic:
    template = _get(session, template_id)
    if template.archived:
        conflict("an archived template cannot be published")
    if not template.draft_pending:
        return _public(template)
    # What the steps name may have gone since the draft was saved: check again.
    _checked(session, ProcessTemplateCreate.model_validate(template.model_dump()))
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
    return _public(template)


@router.get("/{template_id}/versions")
def list_versions(
    template_id: uuid.UUID, session: SessionDep, _: StaffCaller, page: PageDep
) -> Page[VersionPublic]:
    _get(session, template_id)
    statement = (
        select(ProcessTemplateVersion)
        .where(ProcessTemplateVersion.template_id == template_id)
        .order_by(col(ProcessTemplateVersion.version))
    )
    rows, count = fetch_page(session, statement, page)
    return Page(data=[VersionPublic(**v.model_dump()) for v in rows], count=count)


@router.get("/{template_id}/versions/{version}")
def get_version(
    template_id: uuid.UUID,
    version: Annotated[int, FastAPIPath(ge=0, le=2**31 - 1)],
    session: SessionDep,
    _: StaffCaller,
) -> VersionDetail:
    row = published_version(session, template_id, version)
    if row is None:
        not_found("version")
    return VersionDetail(
        version=row.version, created_at=row.created_at, steps=row.snapshot["steps"]
    )


class ReplaceRequest(BaseModel):
    replacement_id: uuid.UUID
    archive_old: bool = False


class ReplaceResult(BaseModel):
    replaced_automations: list[uuid.UUID]
    running_processes: int = Field(
        description="real (not test) processes of the old template still running; they "
        "finish on their version"
    )
    archived: bool


@router.post("/{template_id}/replace")
def replace_process_template(
    template_id: uuid.UUID, body: ReplaceRequest, session: SessionDep, _: StaffCaller
) -> ReplaceResult:
    """Point every automation that starts this template at the replacement, in one go."""
    old = _get(session, template_id)
    if body.replacement_id == template_id:
        invalid("replacement_id", "a template cannot replace itself")
    replacement = session.get(ProcessTemplate, body.replacement_id)
    if replacement is None:
        invalid("replacement_id", "no process template with this id")
    if replacement.archived or replacement.published_version is None:
        conflict("the replacement must be published (and not archived)")
    automations = session.exec(
        select(Automation).where(Automation.template_id == template_id)
    ).all()
    for automation in automations:
        automation.template_id = replacement.id
        automation.updated_at = utcnow()
        session.add(automation)
    if body.archive_old:
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
