"""In-app notices: one row per user, written once however often the activity is retried.

A partner that is not active (revoked, declined, not yet joined) gets no notice, nor do its
users: nothing is written for them, and that is the notice's final outcome (not a failure).
"""

from sqlalchemy.engine import Engine
from sqlmodel import col, select
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

    @activity.defn
    def notify(self, request: NotificationRequest) -> int:
        """Answers how many users were notified."""
        with classified():
            return self._notify(request)

    def _notify(self, request: NotificationRequest) -> int:
        with session_scope(self._engine) as session:
            if withheld_from(session, request.to_partner_id, request.to_user_id) is not None:
                return 0
            if request.to_user_id is not None:
                user_ids = [request.to_user_id]
            else:
                user_ids = list(
                    session.exec(
                        select(User.id).where(
                            User.partner_id == request.to_partner_id,
                            User.active == True,  # noqa: E712
                        )
                    )
                )
            keys = {user_id: f"{request.idempotency_key}:{user_id}" for user_id in user_ids}
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
                session.add(
                    Notification(
                        idempotency_key=key,
                        user_id=user_id,
                        kind=request.kind,
                        process_id=request.process_id,
                        step_key=request.step_key,
                        message=fitted(Notification, "message", request.message),
                    )
                )
                written += 1
            return written
