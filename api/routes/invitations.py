"""Public: a partner looks at its invitation, accepts it (naming its first user) or declines."""

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, EmailStr, Field

from api.deps import SessionDep, SettingsDep
from api.rate_limit import PublicLimit
from partnerflow import invitations

router = APIRouter(prefix="/api/invitations", tags=["invitations"])


class InvitationPublic(BaseModel):
    partner_name: str
    invited_by: str
    expires_at: datetime


class InvitationAccept(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr


class Accepted(BaseModel):
    partner_id: uuid.UUID
    user_id: uuid.UUID
    token: str = Field(description="Shown once; only its hash is stored.")


@router.get("/{token}")
def show_invitation(token: str, session: SessionDep, _: PublicLimit) -> InvitationPublic:
    invitation, partner = invitations.usable(session, token)
    return InvitationPublic(
        partner_name=partner.name,
        invited_by=invitations.inviter_name(session, invitation),
        expires_at=invitation.expires_at,
    )


@router.post("/{token}/accept", status_code=status.HTTP_201_CREATED)
def accept_invitation(
    token: str,
    body: InvitationAccept,
    session: SessionDep,
    settings: SettingsDep,
    _: PublicLimit,
) -> Accepted:
    accepted = invitations.accept(
        session, token, body.name, body.email, ttl_days=settings.token_ttl_days
    )
    session.commit()
    return Accepted(partner_id=accepted.partner.id, user_id=accepted.user.id, token=accepted.token)


@router.post("/{token}/decline")
def decline_invitation(token: str, session: SessionDep, _: PublicLimit) -> dict[str, str]:
    partner = invitations.decline(session, token)
    session.commit()
    return {"status": partner.status}
