"""In-app notifications of the caller."""

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import col, select

from api.deps import CurrentCaller, PageDep, SessionDep
from api.errors import not_found
from api.listing import Page, fetch_page
from partnerflow.models import Notification

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


class NotificationPublic(BaseModel):
    id: uuid.UUID
    kind: str
    process_id: uuid.UUID | None
    step_key: str | None
    message: str
    created_at: datetime
    read: bool


@router.get("")
def list_notifications(
    session: SessionDep, caller: CurrentCaller, page: PageDep, unread: bool | None = None
) -> Page[NotificationPublic]:
    statement = (
        select(Notification)
        .where(Notification.user_id == caller.user.id)
        .order_by(col(Notification.created_at).desc())
    )
    if unread is not None:
        statement = statement.where(col(Notification.read).is_(not unread))
    rows, count = fetch_page(session, statement, page)
    return Page(data=[NotificationPublic(**n.model_dump()) for n in rows], count=count)


@router.post("/{notification_id}/read")
def mark_read(
    notification_id: uuid.UUID, session: SessionDep, caller: CurrentCaller
) -> NotificationPublic:
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != caller.user.id:
        not_found("notification")
    notification.read = True
    session.add(notification)
    session.commit()
    return NotificationPublic(**notification.model_dump())
