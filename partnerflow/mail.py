"""Delivery of rendered e-mails: one outbox row per e-mail, keyed so nothing goes out twice.

The row is written (`queued`) before the provider is called and marked `sent` or `failed`;
a retry finds it and never sends again what the provider accepted. `sent` is committed the
moment the provider's acceptance arrives (partnerflow/transports.py); on SQLite, whose commit
may wait for other writers, a mark in the delivery journal is written at that moment first
(partnerflow/delivery_marks.py). Only a crash between that answer and that write sends once
more. At least once, never lost.
Values are fitted to their columns before the insert (PostgreSQL refuses a longer one, and a
refused insert fails the same way on every retry). A subject is cut, with "…": mail clients
show its first 80 characters or so, and an e-mail with a shortened subject is what a reader
expects rather than no e-mail at all. A provider's message id is cut too (it only traces the
e-mail). A key is shortened with a hash of the whole, so it stays unique. What cannot be cut
without changing the e-mail's meaning, its recipients, is refused (`ValueTooLong`).
Attachments (a calendar invitation) are stored with the row, in its transaction: a retry sends
the ones the first attempt stored.
"""

import hashlib
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from partnerflow.db import session_scope, utcnow
from partnerflow.delivery_marks import DeliveryMark, journal_for
from partnerflow.emails import RenderedEmail
from partnerflow.models import OutboxAttachment, OutboxEmail, OutboxKind, OutboxStatus
from partnerflow.settings import Settings
from partnerflow.transports import Attachment, Envelope, PermanentDeliveryError, Transport


class _AlreadySent(Exception):
    """Another attempt delivered this e-mail while this one waited for its row."""


class ValueTooLong(ValueError):
    """A value longer than its column that cannot be cut without changing what it means."""


def column_limit(model: type[SQLModel], column: str) -> int | None:
    table: Any = getattr(model, "__table__")  # noqa: B009 (SQLModel types hide the table)
    length: int | None = getattr(table.c[column].type, "length", None)
    return length


def fitted(model: type[SQLModel], column: str, value: str) -> str:
    """`value`, cut with "…" to what the column holds."""
    limit = column_limit(model, column)
    if limit is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def _fitted_key(key: str) -> str:
    """The key, or for one longer than the column its head and a hash of all of it."""
    limit = column_limit(OutboxEmail, "idempotency_key")
    if limit is None or len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: limit - len(digest) - 1]}#{digest}"


def _recipients(to: Sequence[str]) -> str:
    joined = ", ".join(to)
    limit = column_limit(OutboxEmail, "to")
    if limit is not None and len(joined) > limit:
        raise ValueTooLong(
            f"{len(to)} recipients take {len(joined)} characters; an e-mail holds {limit}"
        )
    return joined


class Mailer:
    def __init__(self, engine: Engine, settings: Settings, transport: Transport | None) -> None:
        self._engine = engine
        self._settings = settings
        self._transport = transport

    def deliver(
        self,
        *,
        idempotency_key: str,
        kind: OutboxKind,
        to: Sequence[str],
        email: RenderedEmail,
        process_id: UUID | None = None,
        test: bool = False,
        secret: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> OutboxEmail:
        """Record and deliver the e-mail once. Raises PermanentDeliveryError (recorded as
        `failed`) or TemporaryDeliveryError (still `queued`, to be retried).

        `secret` (the token of a sign-in or invitation link) is masked in the stored copy when
        a provider delivers the e-mail; with the `outbox` transport the stored copy is the
        delivery."""
        # Test processes never reach a provider: their e-mails stay in the outbox.
        transport = None if test else self._transport
        full_subject = f"[TEST] {email.subject}" if test else email.subject
        subject = fitted(OutboxEmail, "subject", full_subject)
        if not test and subject != full_subject:  # the reader sees what the outbox shows
            email = RenderedEmail(subject=subject, html=email.html, text=email.text)
        stored = email
        if secret and transport is not None:
            stored = RenderedEmail(
                subject=email.subject,
                html=email.html.replace(secret, "***"),
                text=email.text.replace(secret, "***"),
            )
        row, attachments = self._claim(
            OutboxEmail(
                idempotency_key=_fitted_key(idempotency_key),
                process_id=process_id,
                kind=kind,
                to=_recipients(to),
                subject=subject,
                html=stored.html,
                text=stored.text,
                transport=transport.name if transport else "outbox",
                # With no transport the stored copy is the delivery: sent in the same
                # transaction that records it (one commit, not two).
                status="queued" if transport else "sent",
                sent_at=None if transport else utcnow(),
            ),
            attachments,
        )
        if row.status == "sent":
            return row
        if row.status == "failed":
            raise PermanentDeliveryError(row.error or "delivery failed")
        if transport is None:  # queued by an earlier attempt (older code, another transport)
            return self._mark(row.id, status="sent")
        envelope = Envelope(
            to=row.to.split(", "),
            email=email if secret else RenderedEmail(row.subject, row.html, row.text),
            sender=self._settings.mail_from,
            reply_to=self._settings.mail_reply_to,
            idempotency_key=row.idempotency_key,
            attachments=tuple(attachments),
        )
        delivery = _Delivery(self._engine, row.id)
        try:
            with delivery:
                message_id = transport.send(envelope, delivery)
        except _AlreadySent:
            return self._row(row.id)
        except PermanentDeliveryError as error:
            self._mark(row.id, status="failed", error=str(error))
            raise
        with session_scope(self._engine) as session:  # the trace, once the mark is safe
            _mark_sent(session, row.id, message_id)
        return self._row(row.id)

    def _row(self, row_id: UUID) -> OutboxEmail:
        with session_scope(self._engine) as session:
            row = session.get(OutboxEmail, row_id)
            assert row is not None
            return row

    def _claim(
        self, candidate: OutboxEmail, attachments: Sequence[Attachment]
    ) -> tuple[OutboxEmail, list[Attachment]]:
        """The row for this key and its attachments: the ones a previous attempt wrote, or
        these new ones."""
        key = candidate.idempotency_key
        with session_scope(self._engine) as session:
            existing = session.exec(
                select(OutboxEmail).where(OutboxEmail.idempotency_key == key)
            ).first()
            if existing is not None:
                return existing, _attachments_of(session, existing.id)
            session.add(candidate)
            try:
                session.flush()
            except IntegrityError:
                session.rollback()  # a concurrent attempt with the same key got there first
                existing = session.exec(
                    select(OutboxEmail).where(OutboxEmail.idempotency_key == key)
                ).one()
                return existing, _attachments_of(session, existing.id)
            session.add_all(
                OutboxAttachment(
                    email_id=candidate.id,
                    position=position,
                    filename=fitted(OutboxAttachment, "filename", attachment.filename),
                    content_type=attachment.content_type,
                    size=len(attachment.content),
                    content=attachment.content,
                )
                for position, attachment in enumerate(attachments)
            )
            return candidate, list(attachments)

    def _mark(
        self,
        row_id: UUID,
        *,
        status: OutboxStatus,
        error: str | None = None,
        provider_message_id: str | None = None,
    ) -> OutboxEmail:
        with session_scope(self._engine) as session:
            row = session.get(OutboxEmail, row_id)
            assert row is not None
            row.status = status
            row.error = error
            row.provider_message_id = _message_id(provider_message_id)
            if status == "sent":
                row.sent_at = utcnow()
            session.add(row)
            return row


def _attachments_of(session: Session, email_id: UUID) -> list[Attachment]:
    rows = session.exec(
        select(OutboxAttachment)
        .where(OutboxAttachment.email_id == email_id)
        .order_by(col(OutboxAttachment.position))
    )
    return [Attachment(row.filename, row.content_type, row.content) for row in rows]


class _Delivery:
    """The outbox row's side of one delivery: on PostgreSQL the row is locked when the message
    goes (an overlapping attempt waits, then finds it sent), and `sent` is committed the moment
    the provider took it. SQLite locks the whole database, not a row: held while a slow server
    answers (it may take minutes) it would stop every writer, so there the e-mail's mark in the
    delivery journal takes the lock and records the acceptance (partnerflow/delivery_marks.py),
    and the row is marked after it."""

    def __init__(self, engine: Engine, row_id: UUID) -> None:
        self._engine = engine
        self._row_id = row_id
        self._session: Session | None = None
        self._journal = journal_for(engine)
        self._mark: DeliveryMark | None = None
        self._row_marked = False

    def __enter__(self) -> "_Delivery":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._session is not None:  # not accepted: whatever was readied is undone
            self._session.rollback()
            self._session.close()
            self._session = None
        if self._mark is not None:  # kept until the row says `sent`, for the retry to find
            self._mark.close(forget=self._row_marked)
            self._mark = None

    def ready(self) -> None:
        if self._engine.dialect.name != "sqlite":
            self._session = Session(self._engine)
            if not _mark_sent(self._session, self._row_id):
                raise _AlreadySent  # an overlapping attempt sent it meanwhile: send nothing
            return
        if self._journal is None:
            return
        self._mark = DeliveryMark(self._journal, self._row_id)
        if self._mark.was_accepted():  # an attempt that died after the provider took it
            with session_scope(self._engine) as session:
                _mark_sent(session, self._row_id)
            self._row_marked = True
            raise _AlreadySent
        with session_scope(self._engine) as session:
            row = session.get(OutboxEmail, self._row_id)
            if row is None or row.status != "queued":  # an overlapping attempt ended first
                self._row_marked = True
                raise _AlreadySent

    def accepted(self) -> None:
        if self._mark is not None:
            self._mark.accepted()
        session, self._session = self._session, None
        if session is None:
            with session_scope(self._engine) as fresh:
                _mark_sent(fresh, self._row_id)
            self._row_marked = True
            return
        try:
            session.commit()
        finally:
            session.close()


def _message_id(message_id: str | None) -> str | None:
    if not message_id:
        return None
    return fitted(OutboxEmail, "provider_message_id", message_id)


def _mark_sent(session: Session, row_id: UUID, message_id: str | None = None) -> bool:
    """Mark the row sent; False when another attempt had marked it already."""
    values: dict[str, Any] = {"status": "sent", "sent_at": utcnow(), "error": None}
    query = update(OutboxEmail).where(col(OutboxEmail.id) == row_id)
    if message_id is None:  # the mark itself: only a row still to be sent
        query = query.where(col(OutboxEmail.status) == "queued")
    else:
        values = {"provider_message_id": _message_id(message_id)}
    result: Any = session.execute(query.values(values))
    return bool(result.rowcount)
