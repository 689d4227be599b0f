"""What an e-mail template sees: the process's customer, step, partner and contact person."""

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from partnerflow.models import Opportunity, Partner, ProcessNote, ProcessOffer, User
from partnerflow.partner_status import is_active
from workflows.messages import EmailRequest

# E-mails to a partner a step is offered to, not (yet) its own: they tell where the job is
# (postal code and city), never who the customer is, nor what the case is called.
OFFER_KINDS = ("offer", "offer_withdrawn")


def email_context(session: Session, request: EmailRequest, public_url: str) -> dict[str, Any]:
    """What a template sees: the process's customer, step, partner and contact person, and
    the reason a person wrote (a request for changes, a decline), read from its note."""
    opportunity = session.get(Opportunity, request.opportunity_id)
    contact = session.get(User, request.contact_user_id)
    # the workflow carries the note's id; its text never crosses into Temporal
    note = session.get(ProcessNote, request.note_id) if request.note_id else None
    # the partner it goes to, or (to the contact person) the partner it is about: for a
    # decline, the partner that declined (its note says so)
    partner_id = (
        request.to_partner_id or request.about_partner_id or (note.partner_id if note else None)
    )
    partner = session.get(Partner, partner_id) if partner_id else None
    base = public_url.rstrip("/")
    portal_url = f"{base}/portal"
    customer = customer_context(opportunity.customer if opportunity else {})
    title = opportunity.title if opportunity else ""
    fields = request.fields
    step_url = f"{portal_url}/processes/{request.process_id}/steps/{request.step_key}"
    if request.kind in OFFER_KINDS:
        customer = place_only(customer)
        title, fields, step_url = "", {}, f"{portal_url}/offers"
    return {
        "customer": customer,
        "opportunity": {
            "title": title,
            "product": opportunity.product if opportunity else None,
            "attributes": opportunity.attributes if opportunity else {},
        },
        "process": {"id": str(request.process_id), "url": f"{base}/processes/{request.process_id}"},
        "step": {
            "key": request.step_key,
            "name": request.step_name,
            "instructions": request.instructions,
            "due_at": request.due_at,
            "url": step_url,
        },
        "offer": {"url": f"{portal_url}/offers", "expires_at": _offer_expiry(session, request)},
        "partner": {"name": partner.name if partner else ""},
        "contact": {"name": contact.name, "email": contact.email}
        if contact
        else {"name": "", "email": ""},
        "fields": fields,
        "portal_url": portal_url,
        "reason": note.body if note else "",
    }


def _offer_expiry(session: Session, request: EmailRequest) -> datetime | None:
    """Until when the partner an offer e-mail goes to may accept: its newest offer of the
    step as the read model holds it, else what the workflow sent as the e-mail's due date."""
    if request.kind != "offer":
        return None
    expires_at = session.exec(
        select(ProcessOffer.expires_at)
        .where(
            ProcessOffer.process_id == request.process_id,
            ProcessOffer.step_key == request.step_key,
            ProcessOffer.partner_id == request.to_partner_id,
        )
        .order_by(col(ProcessOffer.offered_at).desc())
    ).first()
    return expires_at or request.due_at


def place_only(customer: dict[str, Any]) -> dict[str, Any]:
    """The customer context with only where they live: postal code, city and country."""
    address = customer["address"]
    return {
        "name": "",
        "email": "",
        "phone": "",
        "address": {
            "street": "",
            "postal_code": address["postal_code"],
            "city": address["city"],
            "country": address["country"],
        },
    }


def partner_recipients(session: Session, partner: Partner) -> list[str]:
    """A partner's e-mails go to its address and to its active users; nothing goes to a
    partner that is not active (partnerflow/partner_status.py)."""
    if not is_active(partner):
        return []
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
