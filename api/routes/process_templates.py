"""Process templates: the process builder's object, its drafts and published versions."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi import Path as FastAPIPath
from pydantic import BaseModel, Field

from api.deps import PageDep, SessionDep, StaffCaller
from api.listing import Page, fetch_page
from partnerflow import process_templates
from partnerflow.process_templates import (
    ProcessTemplateCreate,
    ProcessTemplatePublic,
    ReplaceResult,
    TemplateStatus,
    VersionDetail,
    VersionPublic,
)

router = APIRouter(prefix="/api/process-templates", tags=["process templates"])


class DuplicateRequest(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class ReplaceRequest(BaseModel):
    replacement_id: uuid.UUID
    archive_old: bool = False


@router.post("", status_code=status.HTTP_201_CREATED)
def create_process_template(
    body: ProcessTemplateCreate, session: SessionDep, caller: StaffCaller
) -> ProcessTemplatePublic:
    return process_templates.create(session, body, caller.user)


@router.get("")
def list_process_templates(
    session: SessionDep,
    _: StaffCaller,
    page: PageDep,
    name: Annotated[str | None, Query(max_length=200, description="name contains")] = None,
    status_filter: Annotated[TemplateStatus | None, Query(alias="status")] = None,
) -> Page[ProcessTemplatePublic]:
    rows, count = fetch_page(session, process_templates.listed(name, status_filter), page)
    return Page(data=[process_templates.public(t) for t in rows], count=count)


@router.get("/{template_id}")
def get_process_template(
    template_id: uuid.UUID, session: SessionDep, _: StaffCaller
) -> ProcessTemplatePublic:
    return process_templates.get(session, template_id)


@router.put("/{template_id}")
def update_process_template(
    template_id: uuid.UUID, body: ProcessTemplateCreate, session: SessionDep, _: StaffCaller
) -> ProcessTemplatePublic:
    """Replace the content. A published version stays as it was; this becomes the draft."""
    return process_templates.update(session, template_id, body)


@router.delete("/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_process_template(template_id: uuid.UUID, session: SessionDep, _: StaffCaller) -> None:
    process_templates.delete(session, template_id)


@router.post("/{template_id}/archive")
def archive_process_template(
    template_id: uuid.UUID, session: SessionDep, _: StaffCaller
) -> ProcessTemplatePublic:
    """Archived templates start nothing; running processes finish on their version."""
    return process_templates.archive(session, template_id)


@router.post("/{template_id}/duplicate", status_code=status.HTTP_201_CREATED)
def duplicate_process_template(
    template_id: uuid.UUID,
    session: SessionDep,
    _: StaffCaller,
    body: DuplicateRequest | None = None,
) -> ProcessTemplatePublic:
    """A new, independent draft with every step of the original's current content."""
    return process_templates.duplicate(session, template_id, body.name if body else None)


@router.post("/{template_id}/publish")
def publish_process_template(
    template_id: uuid.UUID, session: SessionDep, _: StaffCaller
) -> ProcessTemplatePublic:
    return process_templates.publish(session, template_id)


@router.get("/{template_id}/versions")
def list_versions(
    template_id: uuid.UUID, session: SessionDep, _: StaffCaller, page: PageDep
) -> Page[VersionPublic]:
    rows, count = fetch_page(session, process_templates.versions(session, template_id), page)
    return Page(data=[process_templates.public_version(v) for v in rows], count=count)


@router.get("/{template_id}/versions/{version}")
def get_version(
    template_id: uuid.UUID,
    version: Annotated[int, FastAPIPath(ge=0, le=2**31 - 1)],
    session: SessionDep,
    _: StaffCaller,
) -> VersionDetail:
    return process_templates.get_version(session, template_id, version)


@router.post("/{template_id}/replace")
def replace_process_template(
    template_id: uuid.UUID, body: ReplaceRequest, session: SessionDep, _: StaffCaller
) -> ReplaceResult:
    """Point every automation that starts this template at the replacement, in one go."""
    return process_templates.replace(session, template_id, body.replacement_id, body.archive_old)
