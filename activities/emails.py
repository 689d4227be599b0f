"""Renders and delivers the e-mails a process sends: hand-over, reminder, overdue, completion…"""

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from partnerflow.db import session_scope
from partnerflow.default_emails import DEFAULTS
from partnerflow.emails import TemplateProblem, render
from partnerflow.mail import Mailer
from partnerflow.models import EmailTemplate, Opportunity, Partner, User
from partnerflow.settings import Settings
from workflows.messages import EmailRequest


def _permanent(message: str) -> ApplicationError:
    return ApplicationError(message, type="PermanentDeliveryError", non_retryable=True)


class EmailActivities:
    def __init__(self, engine: Engine, settings: Settings, mailer: Mailer) -> None:
        self._engine = engine
        self._settings = settings
        self._mailer = mailer

    @activity.defn
    def send_email(self, request: EmailRequest) -> None:
        with session_scope(self._engine) as session:
            recipients = self._recipients(session, request)
            if not recipients:
                raise _permanent(
                    f"{request.kind} e-mail for step {request.step_key}: nobody to send to"
                )
            source = self._template_source(session, request)
            context = email_context(session, request, self._settings.public_url)
        try:
            email = render(
                source["subject"],
                source["body_html"],
                source.get("body_text"),
                context,
                language=request.language,
                timezone=request.timezone,
            )
        except TemplateProblem as problem:
            raise _permanent(str(problem)) from problem
        self._mailer.deliver(
            idempotency_key=request.idempotency_key,
            kind=request.kind,
            to=recipients,
            email=email,
            process_id=request.process_id,
            test=request.test,
        )

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


def email_context(session: Session, request: EmailRequest, public_url: str) -> dict[str, Any]:
    """What a template sees: the process's customer, step, partner and contact person."""
    opportunity = session.get(Opportunity, request.opportunity_id)
    contact = session.get(User, request.contact_user_id)
    partner = session.get(Partner, request.to_partner_id) if request.to_partner_id else None
    base = public_url.rstrip("/")
    portal_url = f"{base}/portal"
    return {
        "customer": customer_context(opportunity.customer if opportunity else {}),
        "opportunity": {
            "title": opportunity.title if opportunity else "",
            "product": opportunity.product if opportunity else None,
            "attributes": opportunity.attributes if opportunity else {},
        },
        "process": {"id": str(request.process_id), "url": f"{base}/processes/{request.process_id}"},
        "step": {
            "key": request.step_key,
            "name": request.step_name,
            "instructions": request.instructions,
            "due_at": request.due_at,
            "url": f"{portal_url}/processes/{request.process_id}/steps/{request.step_key}",
        },
        "partner": {"name": partner.name if partner else ""},
        "contact": {"name": contact.name, "email": contact.email}
        if contact
        else {"name": "", "email": ""},
        "fields": request.fields,
        "portal_url": portal_url,
    }


def partner_recipients(session: Session, partner: Partner) -> list[str]:
    """A partner's e-mails go to its address and to its active users."""
    users = session.exec(
        select(User).where(User.partner_id == partner.id, User.active == True)  # noqa: E712
    ).all()
    addresses = [partner.email] + [user.email for user in users]
    return list(dict.fromkeys(address.lower() for address in addresses))


def customer_context(customer: dict[str, Any]) -> dict[str, Any]:
    """Every customer key a template may name, present even when the opportunity left it out."""
    address = customer.get("address") or {}
    return {
        "name": customer.get("name") or "",
        "email": customer.get("email") or "",
        "phone": customer.get("phone") or "",
        "address": {
            key: address.get(key) or "" for key in ("street", "postal_code", "city", "country")
        },
    }
