"""The company's users: created with a sign-in link e-mailed to them, switched off and on;
`GET /api/me` for anyone signed in, `PUT /api/me` for their own language."""

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, EmailStr, Field
from sqlmodel import col, select

from api.deps import (
    AdminCaller,
    CurrentCaller,
    MailerDep,
    PageDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
)
from api.listing import Page, fetch_page
from partnerflow import absences, people, preferences
from partnerflow.models import User
from partnerflow.spec import Language

router = APIRouter(prefix="/api", tags=["users"])


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    role: Literal["admin", "member"] = "member"


class UserPublic(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    role: str
    partner_id: uuid.UUID | None
    active: bool
    deactivated_at: datetime | None = None
    created_at: datetime
    # the pages' language the user chose; null: the browser's
    language: Language | None = None


class UserInvited(UserPublic):
    sign_in_link: str | None = Field(
        description="The outbox status of the single-use sign-in link e-mailed to the user "
        "(`sent`; `queued` or `failed`: send another with `POST /api/users/{id}/sign-in-link`). "
        "The user makes their own API token after signing in: nobody else is given one.",
    )


class StepRef(BaseModel):
    process_id: uuid.UUID
    step_key: str


class UserDeactivated(UserPublic):
    """The user, and what they still hold that someone else must take over."""

    open_steps: list[StepRef]
    contact_of_processes: list[uuid.UUID]
    contact_of_templates: list[uuid.UUID]
    # the users whose absence named them as the substitute: withdrawn (their steps now stay
    # with them; those that had moved over are among `open_steps`)
    absences_withdrawn: list[uuid.UUID] = []


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(
    body: UserCreate,
    session: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    _: AdminCaller,
) -> UserInvited:
    """A company user; their first sign-in link goes to their address, valid once for
    `PARTNERFLOW_WELCOME_LINK_TTL_HOURS`."""
    user, delivery = people.create_user(
        session, mailer, settings, name=body.name, email=body.email, role=body.role
    )
    return UserInvited(**user.model_dump(), sign_in_link=delivery)


@router.get("/users")
def list_users(session: SessionDep, _: AdminCaller, page: PageDep) -> Page[UserPublic]:
    statement = select(User).where(User.partner_id == None).order_by(col(User.created_at))  # noqa: E711
    rows, count = fetch_page(session, statement, page)
    return Page(data=[UserPublic(**u.model_dump()) for u in rows], count=count)


@router.post("/users/{user_id}/deactivate")
async def deactivate_user(
    user_id: uuid.UUID,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    caller: AdminCaller,
) -> UserDeactivated:
    """Switch a user (staff or a partner's) off: their tokens, browser sessions and sign-in
    links stop working at once. The answer lists what they still hold. The absences naming
    them as the substitute are withdrawn (`absences_withdrawn`): they stand in for nobody."""
    user, left = people.deactivate(session, user_id, caller.user)
    released = await absences.release_substitute(session, temporal, settings, user.id)
    return UserDeactivated(
        **user.model_dump(),
        open_steps=[StepRef(process_id=p, step_key=k) for p, k in left.open_steps],
        contact_of_processes=left.contact_of_processes,
        contact_of_templates=left.contact_of_templates,
        absences_withdrawn=released,
    )


@router.post("/users/{user_id}/activate")
def activate_user(
    user_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    _: AdminCaller,
) -> UserInvited:
    """Switch a deactivated user on again with a new sign-in link by e-mail; their old tokens
    stay revoked. An active user is left as is (`sign_in_link` null)."""
    user, delivery = people.activate(session, mailer, settings, user_id)
    return UserInvited(**user.model_dump(), sign_in_link=delivery)


@router.post("/users/{user_id}/sign-in-link")
def send_sign_in_link(
    user_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    _: AdminCaller,
) -> UserInvited:
    """A new single-use sign-in link to the user's address (the old one stops working)."""
    user, delivery = people.send_sign_in_link(session, mailer, settings, user_id)
    return UserInvited(**user.model_dump(), sign_in_link=delivery)


@router.get("/me")
def me(caller: CurrentCaller) -> UserPublic:
    return UserPublic(**caller.user.model_dump())


class MeUpdate(BaseModel):
    language: Language | None = Field(
        description="The language of the user's pages: `de` or `en`; null follows the "
        "browser's Accept-Language."
    )


@router.put("/me")
def update_me(body: MeUpdate, session: SessionDep, caller: CurrentCaller) -> UserPublic:
    user = preferences.set_language(session, caller.user, body.language)
    return UserPublic(**user.model_dump())
