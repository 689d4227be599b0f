"""Webhooks (admins): subscriptions to process events, their delivery log, redelivery."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from api.deps import AdminCaller, PageDep, SessionDep, SettingsDep, TemporalDep
from api.listing import Page, fetch_page
from partnerflow import webhooks
from partnerflow.webhook_destinations import Resolver, system_resolver
from partnerflow.webhooks import (
    DeliveryPublic,
    WebhookCreate,
    WebhookPublic,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


def get_resolver() -> Resolver:
    """How host names are resolved when an address is checked (tests override it)."""
    return system_resolver


ResolverDep = Annotated[Resolver, Depends(get_resolver)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_webhook(
    body: WebhookCreate,
    session: SessionDep,
    settings: SettingsDep,
    resolve: ResolverDep,
    _: AdminCaller,
) -> WebhookWithSecret:
    """The answer carries the signing secret (`whsec_…`): shown this once, never again."""
    return webhooks.create(session, settings, resolve, body)


@router.get("")
def list_webhooks(session: SessionDep, _: AdminCaller, page: PageDep) -> Page[WebhookPublic]:
    rows, count = fetch_page(session, webhooks.listed(), page)
    return Page(data=[webhooks.public(row) for row in rows], count=count)


@router.get("/{webhook_id}")
def get_webhook(webhook_id: uuid.UUID, session: SessionDep, _: AdminCaller) -> WebhookPublic:
    return webhooks.public(webhooks.get(session, webhook_id))


@router.patch("/{webhook_id}")
def update_webhook(
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    session: SessionDep,
    settings: SettingsDep,
    resolve: ResolverDep,
    _: AdminCaller,
) -> WebhookPublic:
    return webhooks.update(session, settings, resolve, webhook_id, body)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(webhook_id: uuid.UUID, session: SessionDep, _: AdminCaller) -> None:
    webhooks.delete(session, webhook_id)


@router.post("/{webhook_id}/rotate-secret")
def rotate_secret(webhook_id: uuid.UUID, session: SessionDep, _: AdminCaller) -> WebhookWithSecret:
    """A new secret, shown once; the old one still signs beside it for 24 hours."""
    return webhooks.rotate_secret(session, webhook_id)


@router.get("/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: uuid.UUID, session: SessionDep, _: AdminCaller, page: PageDep
) -> Page[DeliveryPublic]:
    """Newest first, each with its attempts (status, response status, duration)."""
    rows, count = fetch_page(session, webhooks.deliveries(session, webhook_id), page)
    return Page(data=webhooks.with_attempts(session, rows), count=count)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=status.HTTP_202_ACCEPTED
)
async def redeliver(
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    _: AdminCaller,
) -> DeliveryPublic:
    """A new attempt series of the same event (the same `webhook-id`); 409 while one runs."""
    return await webhooks.redeliver(session, temporal, settings, webhook_id, delivery_id)
