"""The delivery log's writes, as the delivery activity (activities/webhooks.py) makes them: what
an attempt sends (the signed request), what came of it (each attempt's row, the delivery's
status), and which answers are final.

Signing follows the Standard Webhooks specification (the `standardwebhooks` package):
`webhook-id` is the event's id (the same on every attempt and redelivery, so a receiver can
drop a repeat), `webhook-timestamp` the attempt's time in seconds, `webhook-signature`
`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret while a rotated-out secret
still signs.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, assert_never

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col
from standardwebhooks.webhooks import Webhook

from partnerflow.db import utcnow
from partnerflow.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookSubscription,
)

MAX_ERROR = 500
# how an answer counts: done, try again later, or final (`gone`: final, and the subscription
# is switched off, as the specification asks of a 410)
Verdict = Literal["succeeded", "retry", "final", "gone"]
GONE_REASON = "the receiver answered 410 Gone"


@dataclass(frozen=True)
class Outgoing:
    """What one attempt sends: where to, the body's exact text, and who signs it."""

    url: str
    event_id: uuid.UUID
    payload: str
    secrets: list[str]

    def headers(self, at: datetime) -> dict[str, str]:
        msg_id = str(self.event_id)
        signatures = " ".join(
            Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=self.payload)
            for secret in self.secrets
        )
        return {
            "content-type": "application/json",
            "user-agent": "Partnerflow-Webhooks/1",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signatures,
        }


@dataclass(frozen=True)
class NotDue:
    """Nothing to send for this series: why, and whether the series ended well."""

    outcome: Literal["succeeded", "stale"]
    response_status: int | None = None


def payload_of(body: dict[str, object]) -> str:
    """The body's exact text: compact, keys in order, the same on every attempt."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def outgoing(engine: Engine, delivery_id: uuid.UUID, series: int) -> Outgoing | NotDue:
    """What this series' next attempt sends, or why it sends nothing: the delivery is gone,
    redelivered meanwhile or already settled, or its subscription is switched off (then the
    delivery is recorded as failed)."""
    with Session(engine) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.series != series:
            return NotDue("stale")
        if delivery.status == "succeeded":
            # a retried activity whose first attempt got through before its worker died
            return NotDue("succeeded", delivery.response_status)
        if delivery.status == "failed":
            return NotDue("stale", delivery.response_status)
        subscription = session.get(WebhookSubscription, delivery.subscription_id)
        if subscription is None or not subscription.enabled:
            _settle(session, delivery, "failed", "the subscription is disabled")
            return NotDue("stale")
        return Outgoing(
            url=subscription.url,
            event_id=delivery.event_id,
            payload=payload_of(delivery.body),
            secrets=signing_secrets(subscription, utcnow()),
        )


def signing_secrets(subscription: WebhookSubscription, now: datetime) -> list[str]:
    secrets = [subscription.secret]
    until = subscription.previous_secret_until
    if subscription.previous_secret and until is not None and until > now:
        secrets.append(subscription.previous_secret)
    return secrets


def verdict(status_code: int) -> Verdict:
    """A 2xx succeeded; 408, 429 and 5xx are tried again; 410 stops and switches the
    subscription off; any other answer (a redirect, which is never followed; another 4xx) is
    final."""
    if 200 <= status_code < 300:
        return "succeeded"
    if status_code == 410:
        return "gone"
    if status_code in (408, 429) or status_code >= 500 or status_code < 200:
        return "retry"
    return "final"


def record_attempt(
    engine: Engine,
    delivery_id: uuid.UUID,
    series: int,
    number: int,
    *,
    response_status: int | None,
    duration_ms: int,
    error: str | None,
    outcome: Verdict,
) -> None:
    """The attempt's row and the delivery's status after it, in one transaction; a series
    redelivered meanwhile keeps its attempt but no longer sets the status."""
    error = error[:MAX_ERROR] if error else None
    with Session(engine) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return
        session.add(
            WebhookAttempt(
                delivery_id=delivery_id,
                series=series,
                number=number,
                response_status=response_status,
                duration_ms=duration_ms,
                error=error,
            )
        )
        if delivery.series == series:
            delivery.attempts += 1
            delivery.response_status = response_status
            delivery.error = error
            match outcome:
                case "succeeded":
                    delivery.status = "succeeded"
                    delivery.finished_at = utcnow()
                case "retry":
                    delivery.status = "retrying"
                case "final" | "gone":
                    delivery.status = "failed"
                    delivery.finished_at = utcnow()
                case _:
                    assert_never(outcome)
            session.add(delivery)
        if outcome == "gone":
            session.execute(
                update(WebhookSubscription)
                .where(col(WebhookSubscription.id) == delivery.subscription_id)
                .values(enabled=False, disabled_reason=GONE_REASON, updated_at=utcnow())
            )
        session.commit()


def give_up(engine: Engine, delivery_id: uuid.UUID, series: int, window: timedelta) -> int | None:
    """The retry window passed: the series failed for good. Answers the last response status."""
    with Session(engine) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.series != series:
            return None
        if delivery.status in ("pending", "retrying"):
            hours = window.total_seconds() / 3600
            last = f": {delivery.error}" if delivery.error else ""
            _settle(session, delivery, "failed", f"no success within {hours:g} h{last}")
        return delivery.response_status


def _settle(
    session: Session, delivery: WebhookDelivery, status: WebhookDeliveryStatus, error: str
) -> None:
    delivery.status = status
    delivery.error = error[:MAX_ERROR]
    delivery.finished_at = utcnow()
    session.add(delivery)
    session.commit()
