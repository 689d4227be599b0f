"""Webhook subscriptions and their deliveries, as the API and the staff page use them.

A subscription is an address, the events it hears of (partnerflow/webhook_events.py) and a
Standard Webhooks secret (`whsec_…`): the secret is kept, because each delivery is signed
with it, and shown once, when the subscription is made or its secret rotated. Addresses are
checked as partnerflow/webhook_destinations.py says, with the resolver the caller hands in.

Deliveries are written by the read model's transaction (partnerflow/webhook_outbox.py); this
starts their workflows once that transaction is committed (`DeliveryStarter` for the worker's
write, `start_deliveries` for a redelivery and the reconciler), lists them with their attempts,
and redelivers one (a new attempt series: same event, same `webhook-id`).
"""

import asyncio
import base64
import logging
import secrets
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import delete as delete_rows
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from partnerflow.db import utcnow
from partnerflow.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookSubscription,
)
from partnerflow.refusals import conflict, invalid, not_found
from partnerflow.settings import Settings
from partnerflow.webhook_destinations import Resolver, Unresolvable, destination
from partnerflow.webhook_events import WebhookEvent
from partnerflow.webhook_outbox import Queued
from workflows.webhook_delivery import WebhookDeliveryWorkflow, workflow_id_for
from workflows.webhook_messages import DeliveryInput

log = logging.getLogger("partnerflow.webhooks")

# After a rotation the old secret signs beside the new one this long.
ROTATION_OVERLAP = timedelta(hours=24)
# What the reconciler starts in one round, oldest first.
STUCK_BATCH = 200


class WebhookCreate(BaseModel):
    url: str = Field(max_length=4000)
    events: list[WebhookEvent] = Field(min_length=1)
    enabled: bool = True


class WebhookUpdate(BaseModel):
    url: str | None = Field(default=None, max_length=4000)
    events: list[WebhookEvent] | None = Field(default=None, min_length=1)
    enabled: bool | None = None


class WebhookPublic(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    enabled: bool
    # set when a delivery switched it off (the receiver answered 410 Gone)
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookPublic):
    """Only the answer that makes the secret has it: it is never shown again."""

    secret: str


class AttemptPublic(BaseModel):
    series: int
    number: int
    at: datetime
    response_status: int | None
    duration_ms: int
    error: str | None


class DeliveryPublic(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    process_id: uuid.UUID
    status: WebhookDeliveryStatus
    series: int
    response_status: int | None
    error: str | None
    created_at: datetime
    queued_at: datetime
    finished_at: datetime | None
    body: dict[str, object]
    # every POST of every series, oldest first
    attempts: list[AttemptPublic]


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def public(subscription: WebhookSubscription) -> WebhookPublic:
    return WebhookPublic.model_validate(subscription, from_attributes=True)


def listed() -> SelectOfScalar[WebhookSubscription]:
    return select(WebhookSubscription).order_by(col(WebhookSubscription.created_at))


def get(session: Session, subscription_id: uuid.UUID) -> WebhookSubscription:
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise not_found("webhook")
    return subscription


def create(
    session: Session, settings: Settings, resolve: Resolver, body: WebhookCreate
) -> WebhookWithSecret:
    _check_url(body.url, settings, resolve)
    secret = new_secret()
    subscription = WebhookSubscription(
        url=body.url, events=_unique(body.events), enabled=body.enabled, secret=secret
    )
    session.add(subscription)
    session.commit()
    return WebhookWithSecret(**public(subscription).model_dump(), secret=secret)


def update(
    session: Session,
    settings: Settings,
    resolve: Resolver,
    subscription_id: uuid.UUID,
    body: WebhookUpdate,
) -> WebhookPublic:
    subscription = get(session, subscription_id)
    now = utcnow()
    if body.url is not None and body.url != subscription.url:
        _check_url(body.url, settings, resolve)
        subscription.url = body.url
    if body.events is not None:
        subscription.events = _unique(body.events)
    if body.enabled is not None and body.enabled != subscription.enabled:
        subscription.enabled = body.enabled
        subscription.disabled_reason = None
        if body.enabled:
            # what happened while it was off is not sent (redeliver a delivery to send it)
            subscription.active_since = now
    subscription.updated_at = now
    session.add(subscription)
    session.commit()
    return public(subscription)


def rotate_secret(session: Session, subscription_id: uuid.UUID) -> WebhookWithSecret:
    """A new secret, shown once; the old one signs beside it for ROTATION_OVERLAP."""
    subscription = get(session, subscription_id)
    now = utcnow()
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_until = now + ROTATION_OVERLAP
    subscription.secret = new_secret()
    subscription.updated_at = now
    session.add(subscription)
    session.commit()
    return WebhookWithSecret(**public(subscription).model_dump(), secret=subscription.secret)


def delete(session: Session, subscription_id: uuid.UUID) -> None:
    """Gone with its delivery log; a delivery still being tried finds nothing and stops."""
    get(session, subscription_id)
    ids = select(WebhookDelivery.id).where(col(WebhookDelivery.subscription_id) == subscription_id)
    session.execute(delete_rows(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(ids)))
    session.execute(
        delete_rows(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == subscription_id)
    )
    session.execute(
        delete_rows(WebhookSubscription).where(col(WebhookSubscription.id) == subscription_id)
    )
    session.commit()


def deliveries(session: Session, subscription_id: uuid.UUID) -> SelectOfScalar[WebhookDelivery]:
    """The subscription's deliveries, newest first."""
    get(session, subscription_id)
    return (
        select(WebhookDelivery)
        .where(col(WebhookDelivery.subscription_id) == subscription_id)
        .order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id))
    )


def with_attempts(session: Session, rows: Sequence[WebhookDelivery]) -> list[DeliveryPublic]:
    """The deliveries as shown, each with its attempts (one query for all of them)."""
    attempts: dict[uuid.UUID, list[AttemptPublic]] = {row.id: [] for row in rows}
    if rows:
        found = session.exec(
            select(WebhookAttempt)
            .where(col(WebhookAttempt.delivery_id).in_(list(attempts)))
            .order_by(col(WebhookAttempt.series), col(WebhookAttempt.number))
        )
        for attempt in found:
            attempts[attempt.delivery_id].append(
                AttemptPublic.model_validate(attempt, from_attributes=True)
            )
    return [
        DeliveryPublic(
            **row.model_dump(exclude={"subscription_id", "attempts"}), attempts=attempts[row.id]
        )
        for row in rows
    ]


def delivery_of(
    session: Session, subscription_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription_id:
        raise not_found("delivery")
    return delivery


async def redeliver(
    session: Session,
    client: Client,
    settings: Settings,
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> DeliveryPublic:
    """A new attempt series of the same event (same `webhook-id`). Refused while a series is
    still being tried, and for a disabled subscription. Recorded before its workflow starts:
    should the start fail, the reconciler starts it."""
    subscription = get(session, subscription_id)
    delivery = delivery_of(session, subscription_id, delivery_id)
    if not subscription.enabled:
        raise conflict("the webhook is disabled: enable it before redelivering")
    if delivery.status in ("pending", "retrying"):
        raise conflict("the delivery is still being tried")
    delivery.series += 1
    delivery.status = "pending"
    delivery.error = None
    delivery.response_status = None
    delivery.finished_at = None
    delivery.queued_at = utcnow()
    session.add(delivery)
    session.commit()
    await start_deliveries(client, settings, [Queued(delivery.id, delivery.series)])
    return with_attempts(session, [delivery])[0]


async def start_deliveries(client: Client, settings: Settings, queued: Sequence[Queued]) -> int:
    """Start each series' workflow, or find it started: answers how many were started now."""

    async def start(item: Queued) -> int:
        try:
            await client.start_workflow(
                WebhookDeliveryWorkflow.run,
                delivery_input(settings, item),
                id=workflow_id_for(item.delivery_id, item.series),
                task_queue=settings.task_queue,
                # one series, one run: a finished series is never run again under its id
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            return 0
        return 1

    started = await asyncio.gather(*(start(item) for item in queued))
    return sum(started)


def delivery_input(settings: Settings, item: Queued) -> DeliveryInput:
    return DeliveryInput(
        delivery_id=item.delivery_id,
        series=item.series,
        retry_first_seconds=settings.webhooks_retry_first_seconds,
        retry_for_seconds=settings.webhooks_retry_for_hours * 3600,
        timeout_seconds=settings.webhooks_timeout_seconds,
    )


def stuck(session: Session, queued_before: datetime) -> list[Queued]:
    """Series asked for before `queued_before` whose first attempt has not run: their
    workflow may never have started (a crash between the commit and the start)."""
    rows = session.exec(
        select(WebhookDelivery.id, WebhookDelivery.series)
        .where(col(WebhookDelivery.status) == "pending")
        .where(col(WebhookDelivery.queued_at) < queued_before)
        .order_by(col(WebhookDelivery.queued_at))
        .limit(STUCK_BATCH)
    ).all()
    return [Queued(delivery_id, series) for delivery_id, series in rows]


class DeliveryStarter:
    """Starts delivery workflows for the read-model write, which runs in a worker thread:
    on the worker's event loop, without holding up the transition. A start that fails is
    logged; the delivery stays `pending` and the reconciler starts it."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._loop = asyncio.get_running_loop()

    def start_soon(self, queued: Sequence[Queued]) -> None:
        if not queued:
            return
        future = asyncio.run_coroutine_threadsafe(
            start_deliveries(self._client, self._settings, list(queued)), self._loop
        )
        future.add_done_callback(_log_failure)


def _log_failure(future: "Future[int]") -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("webhook deliveries not started (the reconciler will): %r", future.exception())


def _check_url(url: str, settings: Settings, resolve: Resolver) -> None:
    try:
        destination(url, settings, resolve)
    except Unresolvable:
        raise invalid("url", "the host name does not resolve") from None


def _unique(events: list[WebhookEvent]) -> list[str]:
    return list(dict.fromkeys(events))
