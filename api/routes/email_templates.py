"""E-mail templates, checked in the sandbox when saved."""

import uuid

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from api.deps import PageDep, SessionDep, SettingsDep, StaffCaller
from api.listing import Page, fetch_page
from partnerflow import email_templates
from partnerflow.email_templates import EmailTemplateCreate, EmailTemplatePublic, PreviewPublic
from partnerflow.emails import TEMPLATE_VARIABLES

router = APIRouter(prefix="/api/email-templates", tags=["email templates"])


class PreviewRequest(BaseModel):
    process_id: uuid.UUID | None = None
    step_key: str | None = Field(default=None, max_length=64)


@router.get("/variables")
def list_variables(_: StaffCaller) -> dict[str, str]:
    return TEMPLATE_VARIABLES


@router.post("", status_code=status.HTTP_201_CREATED)
def create_email_template(
    body: EmailTemplateCreate, session: SessionDep, _: StaffCaller
) -> EmailTemplatePublic:
    return email_templates.create(session, body)


@router.get("")
def list_email_templates(
    session: SessionDep, _: StaffCaller, page: PageDep
) -> Page[EmailTemplatePublic]:
    rows, count = fetch_page(session, email_templates.listed(), page)
    return Page(data=[email_templates.public(t) for t in rows], count=count)


@router.get("/{template_id}")
def get_email_template(
    template_id: uuid.UUID, session: SessionDep, _: StaffCaller
) -> EmailTemplatePublic:
    return email_templates.get(session, template_id)


@router.put("/{template_id}")
def update_email_template(
    template_id: uuid.UUID, body: EmailTemplateCreate, session: SessionDep, _: StaffCaller
) -> EmailTemplatePublic:
    return email_templates.update(session, template_id, body)


@router.delete("/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_email_template(template_id: uuid.UUID, session: SessionDep, _: StaffCaller) -> None:
    email_templates.delete(session, template_id)


@router.post("/{template_id}/preview")
def preview_email_template(
    template_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    _: StaffCaller,
    body: PreviewRequest | None = None,
) -> PreviewPublic:
    """The template rendered with sample data, or with the context of a real process."""
    body = body or PreviewRequest()
    return email_templates.preview(
        session, template_id, settings.public_url, body.process_id, body.step_key
    )
