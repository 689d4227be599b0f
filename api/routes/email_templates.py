"""E-mail templates, checked in the sandbox when saved."""

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from sqlmodel import col, select

from api.deps import PageDep, SessionDep, SettingsDep, StaffCaller
from api.errors import conflict, invalid, not_found
from api.listing import Page, fetch_page
from partnerflow.db import utcnow
from partnerflow.default_emails import sample_context
from partnerflow.email_context import email_context
from partnerflow.emails import TEMPLATE_VARIABLES, TemplateProblem, check_template, render
from partnerflow.models import EmailTemplate, Process, ProcessStep, ProcessTemplate
from workflows.messages import EmailRequest

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


@router.put("/{template_id}")
def update_email_template(
    template_id: uuid.UUID, body: EmailTemplateCreate, session: SessionDep, _: StaffCaller
) -> EmailTemplatePublic:
    template = session.get(EmailTemplate, template_id)
    if template is None:
        not_found("e-mail template")
    _checked(body)
    for name, value in body.model_dump().items():
        setattr(template, name, value)
    template.updated_at = utcnow()
    session.add(template)
    session.commit()
    return EmailTemplatePublic(**template.model_dump())


@router.delete("/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_email_template(template_id: uuid.UUID, session: SessionDep, _: StaffCaller) -> None:
    template = session.get(EmailTemplate, template_id)
    if template is None:
        not_found("e-mail template")
    users = [
        t.name
        for t in session.exec(select(ProcessTemplate))
        if any(step.get("on_activate_email") == str(template_id) for step in t.steps)
    ]
    if users:
        conflict(f"process templates use it: {', '.join(sorted(users))}")
    session.delete(template)
    session.commit()


class PreviewRequest(BaseModel):
    process_id: uuid.UUID | None = None
    step_key: str | None = Field(default=None, max_length=64)


class PreviewPublic(BaseModel):
    subject: str
    html: str
    text: str


@router.post("/{template_id}/preview")
def preview_email_template(
    template_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    _: StaffCaller,
    body: PreviewRequest | None = None,
) -> PreviewPublic:
    """The template rendered with sample data, or with the context of a real process."""
    template = session.get(EmailTemplate, template_id)
    if template is None:
        not_found("e-mail template")
    body = body or PreviewRequest()
    timezone = "Europe/Berlin"
    if body.process_id is None:
        context = sample_context(settings.public_url)
    else:
        process = session.get(Process, body.process_id)
        if process is None:
            invalid("process_id", "no process with this id")
        steps = list(
            session.exec(
                select(ProcessStep)
                .where(ProcessStep.process_id == process.id)
                .order_by(col(ProcessStep.position))
            )
        )
        chosen = (
            [s for s in steps if s.key == body.step_key]
            if body.step_key
            else [s for s in steps if s.assignee_partner_id is not None] or steps
        )
        if not chosen:
            invalid("step_key", "the process has no such step")
        step = chosen[0]
        request = EmailRequest(
            process_id=process.id,
            opportunity_id=process.opportunity_id,
            contact_user_id=process.contact_user_id,
            to_partner_id=step.assignee_partner_id,
            to_user_id=step.assignee_user_id,
            kind="handover",
            language=template.language,
            timezone=timezone,
            step_key=step.key,
            step_name=step.name,
            due_at=step.due_at,
            fields={s.key: s.fields for s in steps if s.fields},
            idempotency_key="preview",
        )
        context = email_context(session, request, settings.public_url)
    try:
        rendered = render(
            template.subject,
            template.body_html,
            template.body_text,
            context,
            language=template.language,
            timezone=timezone,
        )
    except TemplateProblem as problem:  # past the save check: stopped by the render budget
        invalid(problem.part, str(problem))
    return PreviewPublic(subject=rendered.subject, html=rendered.html, text=rendered.text)
