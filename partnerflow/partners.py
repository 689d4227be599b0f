"""Partner organisations: invited by e-mail, given users and rights, revoked."""

import uuid
from typing import Literal, get_args

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar
from temporalio.client import Client

from partnerflow import invitations, people, revocation, service_areas
from partnerflow.callers import Caller
from partnerflow.mail import Mailer
from partnerflow.models import Partner, PartnerStatus, User
from partnerflow.refusals import conflict, forbidden, not_found
from partnerflow.revocation import HandBack
from partnerflow.settings import Settings
from partnerflow.spec import Language

Permission = Literal["steps:complete", "steps:set_deadline", "documents:upload", "documents:view"]
PERMISSIONS: tuple[Permission, ...] = get_args(Permission)


def create(
    session: Session,
    mailer: Mailer,
    settings: Settings,
    inviter: User,
    *,
    name: str,
    email: str,
    language: Language,
) -> tuple[Partner, str]:
    """A partner, `invited`: the invitation e-mail carries a single-use link. The partner,
    and the e-mail's outbox status."""
    partner = Partner(name=name, email=email.lower())
    session.add(partner)
    session.flush()
    return partner, _invite(session, mailer, settings, inviter, partner, language)


def invite_again(
    session: Session,
    mailer: Mailer,
    settings: Settings,
    inviter: User,
    partner_id: uuid.UUID,
    language: Language,
) -> tuple[Partner, str]:
    """A new link (the old one stops working) for a partner that has not joined."""
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise not_found("partner")
    if partner.status not in ("invited", "declined"):
        raise conflict(
            f"the partner is {partner.status}; only invited or declined partners are invited"
        )
    return partner, _invite(session, mailer, settings, inviter, partner, language)


def _invite(
    session: Session,
    mailer: Mailer,
    settings: Settings,
    inviter: User,
    partner: Partner,
    language: Language,
) -> str:
    token = invitations.invite(session, partner, inviter, settings, language)
    session.commit()
    return invitations.send_invitation(session, mailer, settings, partner, token)


def listed(
    *, serves: str | None = None, country: str = "DE", status: PartnerStatus | None = None
) -> SelectOfScalar[Partner]:
    """The partners by name: those whose service area covers the postal code `serves` (of
    `country`), in `status`."""
    statement = select(Partner).order_by(col(Partner.name), col(Partner.id))
    if serves is not None:
        statement = service_areas.serving(statement, serves, country)
    if status is not None:
        statement = statement.where(Partner.status == status)
    return statement


def visible(session: Session, caller: Caller, partner_id: uuid.UUID) -> Partner:
    """The partner, to the company's users and to the partner's own."""
    partner = session.get(Partner, partner_id)
    if partner is None or not (caller.is_staff or caller.partner_id == partner_id):
        raise not_found("partner")
    return partner


def add_user(
    session: Session,
    mailer: Mailer,
    settings: Settings,
    caller: Caller,
    partner_id: uuid.UUID,
    *,
    name: str,
    email: str,
) -> tuple[User, str]:
    """Another user of an active partner, added by an admin or one of the partner's own; the
    first sign-in link goes to the new user's address. The user, and the e-mail's status."""
    partner = visible(session, caller, partner_id)
    if not (caller.is_admin or caller.partner_id == partner_id):
        raise forbidden("only an admin or the partner's own users may add its users")
    if partner.status != "active":
        raise conflict(f"the partner is {partner.status}")
    return people.create_user(
        session, mailer, settings, name=name, email=email, role="partner", partner_id=partner.id
    )


async def revoke(
    session: Session, temporal: Client, partner_id: uuid.UUID
) -> tuple[Partner, HandBack]:
    """Cut the partner off at once (partnerflow/revocation.py), then hand its open steps in
    running processes to their contact persons. Revoking again tells the processes still
    holding anything of the partner's."""
    partner = revocation.revoke(session, partner_id)
    handed = await revocation.hand_back(session, temporal, partner_id)
    session.refresh(partner)  # handing back ended the session's transaction
    return partner, handed


def set_permissions(
    session: Session, partner_id: uuid.UUID, permissions: list[Permission]
) -> Partner:
    """The partner's rights, granted by the owner; the set given replaces the old one."""
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise not_found("partner")
    partner.permissions = [p for p in PERMISSIONS if p in permissions]
    session.add(partner)
    session.commit()
    return partner
