"""E-mail templates, checked in the sandbox when saved."""

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from sqlmodel import select

from api.deps import PageDep, SessionDep, StaffCaller
from api.errors import invalid, not_found
from api.listing import Page, fetch_page
from partnerflow.emails import TEMPLATE_VARIABLES, TemplateProblem, check_template
from partnerflow.models import EmailTemplate

router = APIRouter(prefix="/api/email-templates", tags=["email templates"])


class EmailTemplateCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    language: Literal["de", "en"] = "de"
    subject: str = Field(min_length=1, max_length=1000)
    body_html: str = Field(min_length=1, max_length=200_000)
    body_text: str | None = Field(default=None, max_length=200_000)


class EmailTemplatePublic(EmailTemplateCreate):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime


def _checked(body: EmailTemplateCreate) -> None:
    try:
        check_template(body.subject, body.body_html, body.body_text)
    except TemplateProblem as problem:
        invalid(problem.part, str(problem))


@router.get("/variables")
def list_variables(_: StaffCaller) -> dict[str, str]:
    return TEMPLATE_VARIABLES


@router.post("", status_code=status.HTTP_201_CREATED)
def create_email_template(
    body: EmailTemplateCreate, session: SessionDep, _: StaffCaller
) -> EmailTemplatePublic:
    _checked(body)
    template = EmailTemplate(**body.model_dump())
    session.add(template)
    session.commit()
    return EmailTemplatePublic(**template.model_dump())


@router.get("")
def list_email_templates(
    session: SessionDep, _: StaffCaller, page: PageDep
) -> Page[EmailTemplatePublic]:
    rows, count = fetch_page(session, select(EmailTemplate).order_by(EmailTemplate.name), page)
    return Page(data=[EmailTemplatePublic(**t.model_dump()) for t in rows], count=count)


@router.get("/{template_id}")
def get_email_template(
    template_id: uuid.UUID, session: SessionDep, _: StaffCaller
) -> EmailTemplatePublic:
    template = session.get(EmailTemplate, template_id)
    if template is None:
        not_found("e-mail template")
    return EmailTemplatePublic(**template.model_dump())
