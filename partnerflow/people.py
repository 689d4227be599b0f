"""The people who sign in: a new account's first sign-in by e-mail, switching one off and on.

A credential is only ever given to its owner: a new account gets a single-use link at its
own address, never a token in the answer to whoever made the account.
"""

from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import update
from sqlmodel import Session, col, select

from partnerflow.db import utcnow
from partnerflow.mail import Mailer
from partnerflow.models import ApiToken, Partner, Process, ProcessStep, ProcessTemplate, User
from partnerflow.refusals import conflict, not_found
from partnerflow.settings import Settings
from partnerflow.sign_in import end_access, send_welcome_link
from partnerflow.spec import Role


@dataclass
class LeftOpen:
    """What a deactivated user still holds and someone else must take over."""

    open_steps: list[tuple[UUID, str]] = field(default_factory=list)  # (process id, step key)
    contact_of_processes: list[UUID] = field(default_factory=list)  # running ones
    contact_of_templates: list[UUID] = field(default_factory=list)  # not archived


def create_user(
    session: Session,
    mailer: Mailer,
    settings: Settings,
    *,
    name: str,
    email: str,
    role: Role,
    partner_id: UUID | None = None,
) -> tuple[User, str]:
    """A new account; its first sign-in link goes to its own address. The user, and the
    e-mail's outbox status."""
    user = User(name=name, email=email.lower(), role=role, partner_id=partner_id)
    session.add(user)
    session.flush()
    return user, send_welcome_link(session, mailer, settings, user)


def deactivate(session: Session, user_id: UUID, by: User) -> tuple[User, LeftOpen]:
    """Switch the user off: every token revoked, every browser session and sign-in link
    ended, at once. Switching on again later gives none of them back."""
    user = _user(session, user_id)
    if user.id == by.id:
        raise conflict("you cannot deactivate yourself; ask another admin")
    if user.active:
        user.active = False
        user.deactivated_at = utcnow()
        session.add(user)
        _cut_off(session, user.id)
        session.commit()
    return user, left_open(session, user.id)


def _cut_off(session: Session, user_id: UUID) -> None:
    """Every token of the user revoked, every browser session and sign-in link ended."""
    session.execute(
        update(ApiToken)
        .where(col(ApiToken.user_id) == user_id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    end_access(session, user_id)


def activate(
    session: Session, mailer: Mailer, settings: Settings, user_id: UUID
) -> tuple[User, str | None]:
    """Switch a deactivated user on again: a new sign-in link goes to their address (their
    old tokens stay revoked). Already active: nothing is sent (None)."""
    user = _user(session, user_id)
    if user.active:
        return user, None
    _check_partner_active(session, user)
    # A token or session made while the user was off (one that raced the deactivation) is
    # ended too: switching on again gives back nothing from before.
    _cut_off(session, user.id)
    user.active = True
    user.deactivated_at = None
    session.add(user)
    session.flush()
    return user, send_welcome_link(session, mailer, settings, user)


def send_sign_in_link(
    session: Session, mailer: Mailer, settings: Settings, user_id: UUID
) -> tuple[User, str]:
    """A new single-use sign-in link to an active user's address (say, the first one
    expired, or their last token did); older unused links stop working."""
    user = _user(session, user_id)
    if not user.active:
        raise conflict("the user is deactivated; activate the user instead")
    _check_partner_active(session, user)
    return user, send_welcome_link(session, mailer, settings, user)


def left_open(session: Session, user_id: UUID) -> LeftOpen:
    steps = session.exec(
        select(ProcessStep.process_id, ProcessStep.key)
        .join(Process, col(Process.id) == ProcessStep.process_id)
        .where(
            ProcessStep.assignee_user_id == user_id,
            ProcessStep.status == "active",
            Process.status == "running",
        )
        .order_by(col(ProcessStep.process_id), col(ProcessStep.position))
    ).all()
    processes = session.exec(
        select(Process.id)
        .where(Process.contact_user_id == user_id, Process.status == "running")
        .order_by(col(Process.started_at))
    ).all()
    templates = session.exec(
        select(ProcessTemplate.id)
        .where(ProcessTemplate.contact_user_id == user_id, col(ProcessTemplate.archived).is_(False))
        .order_by(col(ProcessTemplate.created_at))
    ).all()
    return LeftOpen(
        open_steps=[(process_id, key) for process_id, key in steps],
        contact_of_processes=list(processes),
        contact_of_templates=list(templates),
    )


def _user(session: Session, user_id: UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise not_found("user")
    return user


def _check_partner_active(session: Session, user: User) -> None:
    if user.partner_id is None:
        return
    partner = session.get(Partner, user.partner_id)
    if partner is None or partner.status != "active":
        status = partner.status if partner else "gone"
        raise conflict(f"the user's partner is {status}")
