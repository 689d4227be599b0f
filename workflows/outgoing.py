"""The e-mails and in-app notices a process sends, built from its state (pure)."""

from uuid import UUID

from partnerflow.spec import EmailKind, StepSpec, TemplateSnapshot
from workflows.messages import (
    EmailRequest,
    NotificationKind,
    NotificationRequest,
    ProcessState,
    StepState,
)


def email(
    state: ProcessState,
    template: TemplateSnapshot,
    spec: StepSpec,
    step: StepState,
    kind: EmailKind,
    key: str,
    *,
    partner_id: UUID | None = None,
    user_id: UUID | None = None,
    about_partner_id: UUID | None = None,
    note_id: UUID | None = None,
) -> EmailRequest:
    """An e-mail about `step` to a partner organisation or to one user; `key` makes it unique.
    `about_partner_id`: the partner an e-mail to someone else is about; `note_id`: the reason
    a person wrote, which the activity reads from the database."""
    return EmailRequest(
        process_id=state.process_id,
        opportunity_id=state.opportunity_id,
        contact_user_id=state.contact_user_id,
        to_partner_id=partner_id,
        to_user_id=user_id if partner_id is None else None,
        about_partner_id=about_partner_id,
        kind=kind,
        language=template.language,
        timezone=template.timezone,
        step_key=step.key,
        step_name=step.name,
        instructions=spec.instructions,
        due_at=step.due_at,
        email_template_id=spec.on_activate_email if kind == "handover" else None,
        fields={s.key: s.fields for s in state.steps if s.fields},
        test=state.test,
        note_id=note_id,
        idempotency_key=f"{state.process_id}:{key}",
    )


def notice(
    state: ProcessState,
    step: StepState,
    kind: NotificationKind,
    key: str,
    message: str,
    *,
    partner_id: UUID | None = None,
    user_id: UUID | None = None,
) -> NotificationRequest:
    return NotificationRequest(
        process_id=state.process_id,
        to_partner_id=partner_id,
        to_user_id=user_id if partner_id is None else None,
        kind=kind,
        step_key=step.key,
        message=message,
        idempotency_key=f"{state.process_id}:{key}:notice",
    )
