"""In-app notices: one row per user, written once however often the activity is retried.

A partner that is not active (revoked, declined, not yet joined) gets no notice, nor do its
users: nothing is written for them, and that is the notice's final outcome (not a failure).
Processes started before the transition write (workflows/versions.py) send each notice with
`notify`; later ones write their notices in the transaction that writes their state
(`notice_rows`, activities/read_model.py).
"""

from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select
from temporalio import activity

from activities.failures import classified
from partnerflow.db import session_scope
from partnerflow.mail import fitted
from partnerflow.models import Notification, User
from partnerflow.partner_status import withheld_from
from workflows.messages import NotificationRequest


class NotificationActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(no_thread_cancel_exception=True)
    def notify(self, request: NotificationRequest) -> int:
        """Answers how many users were notified."""
        with classified():
            return self._notify(request)

    def _notify(self, request: NotificationRequest) -> int:
        with session_scope(self._engine) as session:
            keys = {
                user_id: f"{request.idempotency_key}:{user_id}"
                for user_id in _recipients(session, request)
            }
            # a retried activity finds what an earlier attempt wrote: one query for all
            existing = set(
                session.exec(
                    select(Notification.idempotency_key).where(
                        col(Notification.idempotency_key).in_(keys.values())
                    )
                )
            )
            written = 0
            for user_id, key in keys.items():
                if key in existing:
                    continue
                session.add(Notification(**_row(request, user_id, key)))
                written += 1
            return written


def notice_rows(
    connection: Connection, requests: list[NotificationRequest]
) -> list[dict[str, Any]]:
    """The rows of the notices, read in the connection's transaction: one per user.

    A user who is gone gets nothing (the notice has nobody to go to): a missing row must not
    make the state written with it fail for good."""
    if not requests:
        return []
    with Session(bind=connection) as session:
        wanted = {request.idempotency_key: _recipients(session, request) for request in requests}
        named = {user_id for user_ids in wanted.values() for user_id in user_ids}
        present = set(session.exec(select(User.id).where(col(User.id).in_(named))))
    return [
        _row(request, user_id, f"{request.idempotency_key}:{user_id}")
        for request in requests
        for user_id in wanted[request.idempotency_key]
        if user_id in present
    ]


def _recipients(session: Session, request: NotificationRequest) -> list[UUID]:
    """One user, or a partner's active users; nobody if the partner is not active."""
    if withheld_from(session, request.to_partner_id, request.to_user_id) is not None:
        return []
    if request.to_user_id is not None:
        return [request.to_user_id]
    return list(
        session.exec(
            select(User.id).where(
                User.partner_id == request.to_partner_id,
                User.active == True,  # noqa: E712
            )
        )
    )


def _row(request: NotificationRequest, user_id: UUID, key: str) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "user_id": user_id,
        "kind": request.kind,
        "process_id": request.process_id,
        "step_key": request.step_key,
        "message": fitted(Notification, "message", request.message),
    }
