"""Who is asking: a company user, or a user of an active partner with its granted rights."""

from dataclasses import dataclass, field
from uuid import UUID

from sqlmodel import Session

from partnerflow.models import Partner, User
from workflows.messages import Actor


@dataclass
class Caller:
    """The authenticated user, with their partner organisation when they belong to one."""

    user: User
    partner: Partner | None = None
    permissions: list[str] = field(default_factory=list)

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    @property
    def is_staff(self) -> bool:
        return self.user.role in ("admin", "member")

    @property
    def partner_id(self) -> UUID | None:
        return self.partner.id if self.partner else None

    def may(self, permission: str) -> bool:
        """The company's users may; a partner's users what their organisation was granted."""
        return self.partner_id is None or permission in self.permissions

    def actor(self) -> Actor:
        role = self.user.role if self.user.role in ("admin", "member") else "partner"
        return Actor(
            user_id=self.user.id,
            name=self.user.name,
            role=role,
            partner_id=self.partner_id,
            permissions=list(self.permissions),
        )


def caller_for(session: Session, user: User) -> Caller | None:
    """The caller an active user is: a company user, or a user of an active partner."""
    if user.partner_id is None:
        return Caller(user=user)
    partner = session.get(Partner, user.partner_id)
    if partner is None or partner.status != "active":
        return None
    return Caller(user=user, partner=partner, permissions=list(partner.permissions))
