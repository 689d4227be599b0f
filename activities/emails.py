"""Renders and delivers the e-mails a process sends: the hand-over when a partner step opens."""

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from partnerflow.db import session_scope
from partnerflow.default_emails import HANDOVER
from partnerflow.emails import TemplateProblem, render
from partnerflow.mail import Mailer
from partnerflow.models import EmailTemplate, Opportunity, Partner, User
from partnerflow.settings import Settings
from workflows.messages import StepEmailRequest


class EmailActivities:
    def __init__(self, engine: Engine, settings: Settings, mailer: Mailer) -> None:
        self._engine = engine
        self._settings = settings
        self._mailer = mailer

    @activity.defn
    def send_step_email(self, request: StepEmailRequest) -> None:
        with session_scope(self._engine) as session:
            partner = session.get(Partner, request.partner_id)
            if partner is None:
                raise ApplicationError(
                    f"partner {request.partner_id} does not exist", type="PermanentDeliveryError"
                )
            recipients = partner_recipients(session, partner)
            source = self._template_source(session, request)
            context = self._context(session, request, partner)
        try:
            email = render(source["subject"], source["body_html"], source.get("body_text"), context)
        except TemplateProblem as problem:
            raise ApplicationError(str(problem), type="PermanentDeliveryError") from problem
        self._mailer.deliver(
            idempotency_key=request.idempotency_key,
            kind=request.kind,
            to=recipients,
            email=email,
            process_id=request.process_id,
            test=request.test,
        )

    def _template_source(self, session: Session, request: StepEmailRequest) -> dict[str, Any]:
        if request.email_template_id is not None:
            template = session.get(EmailTemplate, request.email_template_id)
            if template is not None:
                return {
                    "subject": template.subject,
                    "body_html": template.body_html,
                    "body_text": template.body_text,
                }
        return dict(HANDOVER[request.language])

    def _context(
        self, session: Session, request: StepEmailRequest, partner: Partner
    ) -> dict[str, Any]:
        opportunity = session.get(Opportunity, request.opportunity_id)
        contact = session.get(User, request.contact_user_id)
        base = self._settings.public_url.rstrip("/")
        portal_url = f"{base}/portal"
        return {
            "customer": customer_context(opportunity.customer if opportunity else {}),
            "opportunity": {
                "title": opportunity.title if opportunity else "",
                "product": opportunity.product if opportunity else None,
                "attributes": opportunity.attributes if opportunity else {},
            },
            "process": {
                "id": str(request.process_id),
                "url": f"{base}/processes/{request.process_id}",
            },
            "step": {
                "key": request.step_key,
                "name": request.step_name,
                "instructions": request.instructions,
                "due_at": None,
                "url": f"{portal_url}/processes/{request.process_id}/steps/{request.step_key}",
            },
            "partner": {"name": partner.name},
            "contact": {"name": contact.name, "email": contact.email} if contact else {},
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
