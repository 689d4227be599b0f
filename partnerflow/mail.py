"""Delivery of rendered e-mails: one outbox row per e-mail, keyed so nothing goes out twice."""

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from partnerflow.db import session_scope, utcnow
from partnerflow.emails import RenderedEmail
from partnerflow.models import OutboxEmail
from partnerflow.settings import Settings


class Mailer:
    """Stores every e-mail in the outbox; the `outbox` transport delivers nothing further."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    def deliver(
        self,
        *,
        idempotency_key: str,
        kind: str,
        to: Sequence[str],
        email: RenderedEmail,
        process_id: UUID | None = None,
        test: bool = False,
    ) -> OutboxEmail:
        """Record and deliver the e-mail once; a repeated key returns the row already written."""
        with session_scope(self._engine) as session:
            existing = session.exec(
                select(OutboxEmail).where(OutboxEmail.idempotency_key == idempotency_key)
            ).first()
            if existing is not None:
                return existing
            subject = f"[TEST] {email.subject}" if test else email.subject
            row = OutboxEmail(
                idempotency_key=idempotency_key,
                process_id=process_id,
                kind=kind,
                to=", ".join(to),
                subject=subject,
                html=email.html,
                text=email.text,
                transport=self._settings.mail_transport,
                # The outbox is the delivery: the e-mail is stored and browsable, and stays here.
                status="sent",
                sent_at=utcnow(),
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                # Another attempt with the same key got there first.
                session.rollback()
                return session.exec(
                    select(OutboxEmail).where(OutboxEmail.idempotency_key == idempotency_key)
                ).one()
            return row
