"""The webhook outbox: the deliveries a process transition makes, written in the transaction
that writes its state (activities/read_model.py), so an event is sent if and only if the state
that made it is recorded.

One row per (enabled subscription, new event it listens to), unique by the pair: a write made
again (a retried activity, the same version remade) adds nothing. `webhookcursor` remembers
how far into the process's timeline earlier writes looked, so each write reads only its new
entries. A subscription hears only of events that occurred after it was made or last enabled.
Test processes (`opportunity.test`) send no webhooks: a receiver would take them for real.
"""

import functools
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert

from partnerflow.db import upsert_insert, utcnow
from partnerflow.models import User, WebhookCursor, WebhookDelivery, WebhookSubscription
from partnerflow.webhook_events import ProcessEvent, new_events
from workflows.messages import ProcessState

SUBSCRIPTION: Table = WebhookSubscription.__table__  # type: ignore[attr-defined]
DELIVERY: Table = WebhookDelivery.__table__  # type: ignore[attr-defined]
CURSOR: Table = WebhookCursor.__table__  # type: ignore[attr-defined]
USER: Table = User.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Queued:
    """A delivery series to start: its workflow is `webhook-delivery-<id>-<series>`."""

    delivery_id: uuid.UUID
    series: int = 1


def queue(connection: Connection, state: ProcessState) -> list[Queued]:
    """Write the deliveries of the state's new events; answers those that are new here."""
    if state.test:
        return []
    subscriptions = connection.execute(
        select(SUBSCRIPTION.c.id, SUBSCRIPTION.c.events, SUBSCRIPTION.c.active_since).where(
            SUBSCRIPTION.c.enabled == true()
        )
    ).all()
    if not subscriptions:
        return []
    seen = connection.execute(
        select(CURSOR.c.seen).where(CURSOR.c.process_id == state.process_id)
    ).scalar()
    if seen is not None and seen >= len(state.timeline):
        return []
    events = new_events(state, seen or 0)
    _advance(connection, state.process_id, len(state.timeline))
    decliners = _partners_of(connection, {e.declined_by for e in events if e.declined_by})
    now = utcnow()
    rows = [
        _row(subscription_id, event, decliners, now)
        for event in events
        for subscription_id, listened, active_since in subscriptions
        if event.type in listened and event.occurred_at >= active_since
    ]
    if not rows:
        return []
    insert = upsert_insert(connection.dialect.name, DELIVERY)
    written = connection.execute(
        insert.on_conflict_do_nothing(
            index_elements=[DELIVERY.c.subscription_id, DELIVERY.c.event_id]
        ).returning(DELIVERY.c.id),
        rows,
    )
    return [Queued(delivery_id=row[0]) for row in written.all()]


def _row(
    subscription_id: uuid.UUID,
    event: ProcessEvent,
    decliners: dict[uuid.UUID, uuid.UUID | None],
    now: Any,
) -> dict[str, Any]:
    partner_id = decliners.get(event.declined_by) if event.declined_by else None
    return {
        "id": uuid.uuid4(),
        "subscription_id": subscription_id,
        "event_id": event.id,
        "event_type": event.type,
        "process_id": event.process_id,
        "body": event.body(partner_id),
        "status": "pending",
        "series": 1,
        "attempts": 0,
        "created_at": now,
        "queued_at": now,
    }


def _advance(connection: Connection, process_id: uuid.UUID, seen: int) -> None:
    """The cursor moves forward only (a write of an older state never moves it back)."""
    connection.execute(
        _cursor_upsert(connection.dialect.name), {"process_id": process_id, "seen": seen}
    )


@functools.cache
def _cursor_upsert(dialect: str) -> Insert:
    """Built once per database, its values bound when it runs (`upsert_insert`)."""
    insert = upsert_insert(dialect, CURSOR)
    return insert.on_conflict_do_update(
        index_elements=[CURSOR.c.process_id],
        set_={"seen": insert.excluded.seen},
        where=CURSOR.c.seen < insert.excluded.seen,
    )


def _partners_of(
    connection: Connection, user_ids: set[uuid.UUID | None]
) -> dict[uuid.UUID, uuid.UUID | None]:
    """The partner of each user (a step's decliner: the step is the contact person's now)."""
    wanted = [u for u in user_ids if u is not None]
    if not wanted:
        return {}
    found = connection.execute(select(USER.c.id, USER.c.partner_id).where(USER.c.id.in_(wanted)))
    return {user_id: partner_id for user_id, partner_id in found}
