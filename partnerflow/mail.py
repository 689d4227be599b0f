"""Delivery of rendered e-mails: one outbox row per e-mail, keyed so nothing goes out twice.

The row is written (`queued`) before the provider is called and marked `sent` or `failed`
after; a retry finds it and never sends again what the provider accepted. A crash between
the provider's acceptance and the mark can send once more: at least once, never lost.
"""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from partnerflow.db import session_scope, utcnow
from partnerflow.emails import RenderedEmail
from partnerflow.models import OutboxEmail
from partnerflow.settings import Settings
from partnerflow.transports import Envelope, PermanentDeliveryError, Transport


class Mailer:
    def __init__(self, engine: Engine, settings: Settings, transport: Transport | None) -> None:
        self._engine = engine
        self._settings = settings
        self._transport = transport

    def deliver(
        self,
        *,
        idempotency_key: str,
        kind: str,
        to: Sequence[str],
        email: RenderedEmail,
        process_id: UUID | None = None,
        test: bool = False,
        secret: str | None = None,
    ) -> OutboxEmail:
        """Record and deliver the e-mail once. Raises PermanentDeliveryError (recorded as
        `failed`) or TemporaryDeliveryError (still `queued`, to be retried).

        `secret` (a sign-in token in a link) is masked in the stored copy when a provider
        delivers the e-mail; with the `outbox` transport the stored copy is the delivery."""
        # Test processes never reach a provider: their e-mails stay in the outbox.
        transport = None if test else self._transport
        stored = email
        if secret and transport is not None:
            stored = RenderedEmail(
                subject=email.subject,
                html=email.html.replace(secret, "***"),
                text=email.text.replace(secret, "***"),
            )
        row = self._claim(
            OutboxEmail(
                idempotency_key=idempotency_key,
                process_id=process_id,
                kind=kind,
                to=", ".join(to),
                subject=f"[TEST] {stored.subject}" if test else stored.subject,
                html=stored.html,
                text=stored.text,
                transport=transport.name if transport else "outbox",
            )
        )
        if row.status == "sent":
            return row
        if row.status == "failed":
            raise PermanentDeliveryError(row.error or "delivery failed")
        if transport is None:
            return self._mark(row.id, status="sent")
        envelope = Envelope(
            to=row.to.split(", "),
            email=email if secret else RenderedEmail(row.subject, row.html, row.text),
            sender=self._settings.mail_from,
            reply_to=self._settings.mail_reply_to,
            idempotency_key=row.idempotency_key,
        )
        try:
            message_id = transport.send(envelope)
        except PermanentDeliveryError as error:
            self._mark(row.id, status="failed", error=str(error))
            raise
        return self._mark(row.id, status="sent", provider_message_id=message_id)

    def _claim(self, candidate: OutboxEmail) -> OutboxEmail:
        """The row for this key: the one a previous attempt wrote, or this new one."""
        key = candidate.idempotency_key
        with session_scope(self._engine) as session:
            existing = session.exec(
                select(OutboxEmail).where(OutboxEmail.idempotency_key == key)
            ).first()
            if existing is not None:
                return existing
            session.add(candidate)
            try:
                session.flush()
            except IntegrityError:
                session.rollback()  # a concurrent attempt with the same key got there first
                return session.exec(
                    select(OutboxEmail).where(OutboxEmail.idempotency_key == key)
                ).one()
            return candidate

    def _mark(
        self,
        row_id: UUID,
        *,
        status: str,
        error: str | None = None,
        provider_message_id: str | None = None,
    ) -> OutboxEmail:
        with session_scope(self._engine) as session:
            row = session.get(OutboxEmail, row_id)
            assert row is not None
            row.status = status
            row.error = error
            row.provider_message_id = provider_message_id
            if status == "sent":
                row.sent_at = utcnow()
            session.add(row)
            return row
