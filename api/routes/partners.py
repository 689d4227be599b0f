"""Partner organisations and their users."""

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, EmailStr, Field
from sqlmodel import select

from api.deps import AdminCaller, CurrentCaller, PageDep, SessionDep, StaffCaller
from api.errors import not_found
from api.listing import Page, fetch_page
from api.routes.users import UserWithToken
from partnerflow.auth import issue_token
from partnerflow.models import Partner, User

router = APIRouter(prefix="/api/partners", tags=["partners"])


class PartnerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr


class PartnerPublic(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    status: str
    permissions: list[str]
    created_at: datetime


class PartnerUserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr


@router.post("", status_code=status.HTTP_201_CREATED)
def create_partner(body: PartnerCreate, session: SessionDep, _: AdminCaller) -> PartnerPublic:
    # Active at once for now; invitations come with the partners issue.
    partner = Partner(name=body.name, email=body.email.lower(), status="active")
    session.add(partner)
    session.commit()
    return PartnerPublic(**partner.model_dump())


@router.get("")
def list_partners(session: SessionDep, _: StaffCaller, page: PageDep) -> Page[PartnerPublic]:
    rows, count = fetch_page(session, select(Partner).order_by(Partner.name), page)
    return Page(data=[PartnerPublic(**p.model_dump()) for p in rows], count=count)


@router.get("/{partner_id}")
def get_partner(partner_id: uuid.UUID, session: SessionDep, caller: CurrentCaller) -> PartnerPublic:
    partner = session.get(Partner, partner_id)
    if partner is None or not (caller.is_staff or caller.partner_id == partner_id):
        not_found("partner")
    return PartnerPublic(**partner.model_dump())


@router.post("/{partner_id}/users", status_code=status.HTTP_201_CREATED)
def create_partner_user(
    partner_id: uuid.UUID, body: PartnerUserCreate, session: SessionDep, _: AdminCaller
) -> UserWithToken:
    partner = session.get(Partner, partner_id)
    if partner is None:
        not_found("partner")
    user = User(name=body.name, email=body.email.lower(), role="partner", partner_id=partner.id)
    session.add(user)
    session.flush()
    token = issue_token(session, user.id)
    session.commit()
    return UserWithToken(**user.model_dump(), token=token)


PERMISSIONS = ("steps:complete", "steps:set_deadline", "documents:upload", "documents:view")


class PermissionsUpdate(BaseModel):
    permissions: list[
        Literal["steps:complete", "steps:set_deadline", "documents:upload", "documents:view"]
    ]


@router.put("/{partner_id}/permissions")
def set_permissions(
    partner_id: uuid.UUID, body: PermissionsUpdate, session: SessionDep, _: AdminCaller
) -> PartnerPublic:
    """The partner's rights, granted by the owner; the set given replaces the old one."""
    partner = session.get(Partner, partner_id)
    if partner is None:
        not_found("partner")
    partner.permissions = [p for p in PERMISSIONS if p in body.permissions]
    session.add(partner)
    session.commit()
    return PartnerPublic(**partner.model_dump())
