"""The outbox's attachments as admins read them: listed with their e-mails, served one by one."""

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from partnerflow.models import OutboxAttachment, OutboxEmail
from partnerflow.refusals import not_found


@dataclass(frozen=True)
class ListedAttachment:
    filename: str
    content_type: str
    size: int


def attachments_of(
    session: Session, email_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ListedAttachment]]:
    """Each e-mail's attachments in their order, without their content: one query a page."""
    if not email_ids:
        return {}
    rows = session.exec(
        select(
            OutboxAttachment.email_id,
            OutboxAttachment.filename,
            OutboxAttachment.content_type,
            OutboxAttachment.size,
        )
        .where(col(OutboxAttachment.email_id).in_(set(email_ids)))
        .order_by(col(OutboxAttachment.email_id), col(OutboxAttachment.position))
    )
    listed: dict[uuid.UUID, list[ListedAttachment]] = {}
    for email_id, filename, content_type, size in rows:
        listed.setdefault(email_id, []).append(ListedAttachment(filename, content_type, size))
    return listed


def attachment(session: Session, email_id: uuid.UUID, position: int) -> OutboxAttachment:
    """The e-mail's attachment at `position` (from 0)."""
    if session.get(OutboxEmail, email_id) is None:
        raise not_found("e-mail")
    found = session.exec(
        select(OutboxAttachment).where(
            OutboxAttachment.email_id == email_id, OutboxAttachment.position == position
        )
    ).first()
    if found is None:
        raise not_found("attachment")
    return found


def safe_filename(row: OutboxAttachment) -> str:
    """The name for a Content-Disposition header: nothing that could end or bend it."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", row.filename) or "attachment"
