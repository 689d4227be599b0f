"""Renders and delivers the e-mails a process sends: hand-over, reminder, overdue, completion…

Every error leaves as a classified `ApplicationError` (activities/failures.py): permanent ones
(a template that cannot be rendered, nobody to send to, a refusal by the provider, a row the
database refuses) are not retried; the workflow flags the process and goes on.

Nothing goes to a partner that is not active (revoked, declined, or not yet joined), nor to
its users: such an e-mail is withheld. That is its final outcome, not a failure: it is not
retried and does not flag the process (the partner was cut off on purpose, and the process
has handed its steps to the contact person); a metric counts it and the log names the ids.

E-mails about a step's appointment or deadline (hand-over, deadline moved, cancelled, taken
away) carry the step's calendar event as an .ics (partnerflow/calendar.py).
"""

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity

from activities.failures import classified, permanent
from partnerflow.calendar import email_invitation
from partnerflow.db import session_scope
from partnerflow.default_emails import DEFAULTS
from partnerflow.email_context import email_context, partner_recipients
from partnerflow.emails import render
from partnerflow.mail import Mailer
from partnerflow.models import EmailTemplate, Partner, User
from partnerflow.partner_status import withheld_from
from partnerflow.settings import Settings
from partnerflow.transports import PermanentDeliveryError
from workflows import retries
from workflows.messages import EmailRequest


def _count(name: str, description: str) -> None:
    activity.metric_meter().create_counter(name, description).add(1)


class EmailActivities:
    def __init__(self, engine: Engine, settings: Settings, mailer: Mailer) -> None:
        self._engine = engine
        self._settings = settings
        self._mailer = mailer

    @activity.defn(no_thread_cancel_exception=True)
    def send_email(self, request: EmailRequest) -> None:
        with classified():
            self._send(request)

    def _send(self, request: EmailRequest) -> None:
        with session_scope(self._engine) as session:
            withheld = withheld_from(session, request.to_partner_id, request.to_user_id)
            if withheld is not None:
                activity.logger.info(
                    "%s e-mail of process %s withheld: %s",
                    request.kind, request.process_id, withheld,
                )  # fmt: skip
                _count("partnerflow_emails_withheld", "e-mails not sent: the partner is not active")
                return
            recipients = self._recipients(session, request)
            if not recipients:
                raise permanent(
                    retries.NO_RECIPIENT,
                    f"{request.kind} e-mail for step {request.step_key}: nobody to send to",
                )
            source = self._template_source(session, request)
            context = email_context(session, request, self._settings.public_url)
            invitation = email_invitation(
                session,
                request,
                recipients,
                organizer=self._settings.mail_from,
                public_url=self._settings.public_url,
            )
        email = render(
            source["subject"],
            source["body_html"],
            source.get("body_text"),
            context,
            language=request.language,
            timezone=request.timezone,
        )
        try:
            self._mailer.deliver(
                idempotency_key=request.idempotency_key,
                kind=request.kind,
                to=recipients,
                email=email,
                process_id=request.process_id,
                test=request.test,
                attachments=[invitation] if invitation is not None else [],
            )
        except PermanentDeliveryError:
            _count("partnerflow_emails_failed", "e-mails a provider refused for good")
            raise
        _count("partnerflow_emails_sent", "e-mails delivered (to the outbox or a provider)")

    def _recipients(self, session: Session, request: EmailRequest) -> list[str]:
        if request.to_partner_id is not None:
            partner = session.get(Partner, request.to_partner_id)
            return partner_recipients(session, partner) if partner else []
        user = session.get(User, request.to_user_id) if request.to_user_id else None
        return [user.email] if user is not None and user.active else []

    def _template_source(self, session: Session, request: EmailRequest) -> dict[str, Any]:
        if request.email_template_id is not None:
            template = session.get(EmailTemplate, request.email_template_id)
            if template is not None:
                return {
                    "subject": template.subject,
                    "body_html": template.body_html,
                    "body_text": template.body_text,
                }
        return dict(DEFAULTS[request.kind][request.language])
