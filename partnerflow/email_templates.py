"""E-mail templates: kept only when they compile in the sandbox, and previewed as they would be
sent. The JSON API (api/routes/email_templates.py) and the e-mail pages both call these."""

import uuid
from datetime import datetime

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from partnerflow.db import utcnow
from partnerflow.default_emails import sample_context
from partnerflow.email_context import email_context
from partnerflow.emails import TemplateProblem, check_template, render
from partnerflow.models import EmailTemplate, Process, ProcessStep, ProcessTemplate
from partnerflow.refusals import Refused, conflict, invalid, not_found
from partnerflow.settings import get_settings
from partnerflow.spec import Language
from workflows.messages import EmailRequest


class EmailTemplateCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    language: Language = "de"
    subject: str = Field(min_length=1, max_length=1000)
    body_html: str = Field(min_length=1, max_length=200_000)
    body_text: str | None = Field(default=None, max_length=200_000)


class EmailTemplatePublic(EmailTemplateCreate):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class PreviewPublic(BaseModel):
    subject: str
    html: str
    text: str


def listed() -> SelectOfScalar[EmailTemplate]:
    return select(EmailTemplate).order_by(EmailTemplate.name)


def public(template: EmailTemplate) -> EmailTemplatePublic:
    return EmailTemplatePublic(**template.model_dump())


def get(session: Session, template_id: uuid.UUID) -> EmailTemplatePublic:
    return public(_get(session, template_id))


def create(session: Session, body: EmailTemplateCreate) -> EmailTemplatePublic:
    """Kept only when it compiles; Refused naming the part (subject, body_html, body_text)."""
    _check(body)
    template = EmailTemplate(**body.model_dump())
    session.add(template)
    session.commit()
    return public(template)


def update(
    session: Session, template_id: uuid.UUID, body: EmailTemplateCreate
) -> EmailTemplatePublic:
    template = _get(session, template_id)
    _check(body)
    for name, value in body.model_dump().items():
        setattr(template, name, value)
    template.updated_at = utcnow()
    session.add(template)
    session.commit()
    return public(template)


def delete(session: Session, template_id: uuid.UUID) -> None:
    """Gone, unless a process template's step sends it."""
    template = _get(session, template_id)
    users = [
        t.name
        for t in session.exec(select(ProcessTemplate))
        if any(step.on_activate_email == template_id for step in t.step_specs())
    ]
    if users:
        raise conflict(f"process templates use it: {', '.join(sorted(users))}")
    session.delete(template)
    session.commit()


def preview(
    session: Session,
    template_id: uuid.UUID,
    public_url: str,
    process_id: uuid.UUID | None = None,
    step_key: str | None = None,
) -> PreviewPublic:
    """The template rendered with sample data, or with the context of a real process."""
    template = _get(session, template_id)
    timezone = get_settings().default_timezone
    if process_id is None:
        context = sample_context(public_url)
    else:
        process = session.get(Process, process_id)
        if process is None:
            raise invalid("process_id", "no process with this id")
        steps = list(
            session.exec(
                select(ProcessStep)
                .where(ProcessStep.process_id == process.id)
                .order_by(col(ProcessStep.position))
            )
        )
        chosen = (
            [s for s in steps if s.key == step_key]
            if step_key
            else [s for s in steps if s.assignee_partner_id is not None] or steps
        )
        if not chosen:
            raise invalid("step_key", "the process has no such step")
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
        context = email_context(session, request, public_url)
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
        raise _refused(problem) from problem
    return PreviewPublic(subject=rendered.subject, html=rendered.html, text=rendered.text)


def _get(session: Session, template_id: uuid.UUID) -> EmailTemplate:
    template = session.get(EmailTemplate, template_id)
    if template is None:
        raise not_found("e-mail template")
    return template


def _check(body: EmailTemplateCreate) -> None:
    try:
        check_template(body.subject, body.body_html, body.body_text)
    except TemplateProblem as problem:
        raise _refused(problem) from problem


def _refused(problem: TemplateProblem) -> Refused:
    return invalid(problem.part, str(problem))
