"""The outbox: every e-mail Partnerflow sent or tried to send (admins only)."""

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import col, select

from api.deps import AdminCaller, PageDep, SessionDep
from api.listing import Page, fetch_page
from partnerflow.models import OutboxEmail

router = APIRouter(prefix="/api/outbox", tags=["outbox"])


class OutboxEmailPublic(BaseModel):
    id: uuid.UUID
    process_id: uuid.UUID | None
    kind: str
    to: str
    subject: str
    html: str
    text: str
    status: str
    transport: str
    provider_message_id: str | None
    error: str | None
    created_at: datetime
    sent_at: datetime | None


@router.get("")
def list_outbox(
    session: SessionDep,
    _: AdminCaller,
    page: PageDep,
    process_id: uuid.UUID | None = None,
    to: str | None = None,
    kind: str | None = None,
) -> Page[OutboxEmailPublic]:
    statement = select(OutboxEmail).order_by(col(OutboxEmail.created_at).desc())
    if process_id is not None:
        statement = statement.where(OutboxEmail.process_id == process_id)
    if to:
        statement = statement.where(col(OutboxEmail.to).contains(to.lower()))
    if kind:
        statement = statement.where(OutboxEmail.kind == kind)
    rows, count = fetch_page(session, statement, page)
    return Page(data=[OutboxEmailPublic(**row.model_dump()) for row in rows], count=count)
