"""The outbox: every e-mail Partnerflow sent or tried to send, and its attachments (admins only)."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel
from sqlmodel import col, select

from api.deps import AdminCaller, PageDep, SessionDep
from api.listing import Page, fetch_page
from partnerflow import outbox
from partnerflow.models import OutboxEmail

router = APIRouter(prefix="/api/outbox", tags=["outbox"])


class AttachmentPublic(BaseModel):
    filename: str
    content_type: str
    size: int


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
    # `GET /api/outbox/{id}/attachments/{n}` serves the n-th (from 0)
    attachments: list[AttachmentPublic]


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
    listed = outbox.attachments_of(session, [row.id for row in rows])
    return Page(
        data=[
            OutboxEmailPublic(
                **row.model_dump(),
                attachments=[
                    AttachmentPublic(filename=a.filename, content_type=a.content_type, size=a.size)
                    for a in listed.get(row.id, [])
                ],
            )
            for row in rows
        ],
        count=count,
    )


@router.get(
    "/{email_id}/attachments/{position}",
    response_class=Response,
    responses={
        200: {
            "content": {"text/calendar": {}, "application/octet-stream": {}},
            "description": "the attachment as the e-mail carried it",
        }
    },
)
def download_attachment(
    email_id: uuid.UUID,
    position: Annotated[int, Path(ge=0, le=1000)],
    session: SessionDep,
    _: AdminCaller,
) -> Response:
    attachment = outbox.attachment(session, email_id, position)
    # nosniff: a browser takes the file for what its type says, never for HTML it guesses
    return Response(
        attachment.content,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{outbox.safe_filename(attachment)}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
