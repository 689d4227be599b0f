"""The company's users and their tokens; `GET /api/me` for anyone signed in."""

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, EmailStr, Field
from sqlmodel import col, select

from api.deps import AdminCaller, CurrentCaller, PageDep, SessionDep
from api.errors import not_found
from api.listing import Page, fetch_page
from partnerflow.auth import hash_token, issue_token
from partnerflow.db import utcnow
from partnerflow.models import ApiToken, User

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
    created_at: datetime


class UserWithToken(UserPublic):
    token: str = Field(description="Shown once; only its hash is stored.")


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: SessionDep, _: AdminCaller) -> UserWithToken:
    user = User(name=body.name, email=body.email.lower(), role=body.role)
    session.add(user)
    session.flush()
    token = issue_token(session, user.id)
    session.commit()
    return UserWithToken(**user.model_dump(), token=token)


@router.get("/users")
def list_users(session: SessionDep, _: AdminCaller, page: PageDep) -> Page[UserPublic]:
    statement = select(User).where(User.partner_id == None).order_by(col(User.created_at))  # noqa: E711
    rows, count = fetch_page(session, statement, page)
    return Page(data=[UserPublic(**u.model_dump()) for u in rows], count=count)


@router.get("/me")
def me(caller: CurrentCaller) -> UserPublic:
    return UserPublic(**caller.user.model_dump())


class TokenPublic(BaseModel):
    id: uuid.UUID
    created_at: datetime
    revoked_at: datetime | None


class TokenIssued(TokenPublic):
    token: str = Field(description="Shown once; only its hash is stored.")


@router.get("/me/tokens")
def list_my_tokens(session: SessionDep, caller: CurrentCaller) -> Page[TokenPublic]:
    rows = session.exec(
        select(ApiToken)
        .where(ApiToken.user_id == caller.user.id)
        .order_by(col(ApiToken.created_at))
    ).all()
    return Page(data=[TokenPublic(**t.model_dump()) for t in rows], count=len(rows))


@router.post("/me/tokens", status_code=status.HTTP_201_CREATED)
def create_my_token(session: SessionDep, caller: CurrentCaller) -> TokenIssued:
    """Another token for the caller (say, for a script); revoke the old one when it is in place."""
    token = issue_token(session, caller.user.id)
    session.commit()
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).one()
    return TokenIssued(**row.model_dump(), token=token)


@router.delete("/me/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_my_token(token_id: uuid.UUID, session: SessionDep, caller: CurrentCaller) -> None:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != caller.user.id:
        not_found("token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.commit()
