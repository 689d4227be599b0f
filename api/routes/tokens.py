"""API tokens: each person's own (`/api/me/tokens`), and every token for an admin
(`/api/tokens`). A token is shown once, when it is made; never its secret or hash after."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from api.deps import AdminCaller, CurrentCaller, PageDep, SessionDep, SettingsDep
from api.listing import Page
from partnerflow import tokens
from partnerflow.auth import token_state
from partnerflow.models import ApiToken

router = APIRouter(prefix="/api", tags=["tokens"])


class TokenPublic(BaseModel):
    id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    # to the minute: recorded at most once a minute per token
    last_used_at: datetime | None
    revoked_at: datetime | None
    state: Literal["live", "expired", "revoked"]


class TokenIssued(TokenPublic):
    token: str = Field(description="Shown once; only its hash is stored.")


class TokenOwner(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    role: str
    partner_id: uuid.UUID | None
    active: bool


class TokenListed(TokenPublic):
    owner: TokenOwner
    revoked: bool


def public(row: ApiToken) -> TokenPublic:
    return TokenPublic(**row.model_dump(), state=token_state(row))


@router.get("/me/tokens")
def list_my_tokens(session: SessionDep, caller: CurrentCaller) -> Page[TokenPublic]:
    rows = tokens.own(session, caller.user)
    return Page(data=[public(t) for t in rows], count=len(rows))


@router.post("/me/tokens", status_code=status.HTTP_201_CREATED)
def create_my_token(
    session: SessionDep, settings: SettingsDep, caller: CurrentCaller
) -> TokenIssued:
    """Another token for the caller (say, for a script, or before this one expires); revoke
    the old one when the new one is in place."""
    issued = tokens.issue_own(session, settings, caller.user)
    return TokenIssued(**public(issued.row).model_dump(), token=issued.token)


@router.delete("/me/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_my_token(token_id: uuid.UUID, session: SessionDep, caller: CurrentCaller) -> None:
    tokens.revoke_own(session, caller.user, token_id)


@router.get("/tokens")
def list_tokens(
    session: SessionDep,
    _: AdminCaller,
    page: PageDep,
    user_id: Annotated[uuid.UUID | None, Query(description="only this user's tokens")] = None,
) -> Page[TokenListed]:
    """Every token of every user (staff and partners), oldest first."""
    rows, count = tokens.every(session, user_id=user_id, limit=page.limit, offset=page.offset)
    return Page(
        data=[
            TokenListed(
                **public(token).model_dump(),
                owner=TokenOwner(**user.model_dump()),
                revoked=token.revoked_at is not None,
            )
            for token, user in rows
        ],
        count=count,
    )


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_any_token(token_id: uuid.UUID, session: SessionDep, _: AdminCaller) -> None:
    """Revoke anyone's token; a browser session opened with it ends too."""
    tokens.revoke_any(session, token_id)
