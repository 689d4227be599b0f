"""Which partners may be given work and the customer data that comes with it: active ones only.

A partner is `invited` until it accepts (it has agreed to nothing and has no users yet),
`active` once it has, `declined` when it said no, and `revoked` when the owner cut it off.
Only an active partner is bound to a step, a slot or an escalation, and only an active
partner is sent e-mails or notices; every check of that asks here.
"""

from uuid import UUID

from sqlmodel import Session

from partnerflow.models import Partner, User

ACTIVE = "active"

_WHY = {
    "invited": "has not accepted its invitation yet",
    "declined": "declined its invitation",
    "revoked": "was revoked",
}


def is_active(partner: Partner) -> bool:
    return partner.status == ACTIVE


def refusal(partner: Partner) -> str | None:
    """Why the partner cannot be given work, naming it; None for an active partner."""
    if is_active(partner):
        return None
    why = _WHY.get(partner.status, f"is {partner.status}")
    return f"partner {partner.id} ({partner.name}) {why}: only an active partner can be given work"


def unbindable(session: Session, partner_id: UUID) -> str | None:
    """Why this id cannot be bound to a step or slot (unknown, or not active); None if it can."""
    partner = session.get(Partner, partner_id)
    if partner is None:
        return f"unknown partner {partner_id}"
    return refusal(partner)


def withheld_from(session: Session, partner_id: UUID | None, user_id: UUID | None) -> str | None:
    """Why nothing may go to this partner, or to this user of a partner; None if it may.
    Ids only in the answer: it goes to logs."""
    if partner_id is None and user_id is not None:
        user = session.get(User, user_id)
        partner_id = user.partner_id if user is not None else None
    if partner_id is None:
        return None
    partner = session.get(Partner, partner_id)
    if partner is None or is_active(partner):
        return None  # an unknown partner has nobody to send to: the sender says so
    return f"partner {partner.id} is {partner.status}"
