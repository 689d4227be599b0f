"""Writes each process transition into the SQL read model (the process, its steps and their
offers); an older version never wins.

`record_transition` (a local activity) writes the state and the in-app notices queued since
the last write in one transaction; `record_process_state` is the state alone, for processes
started before it (workflows/versions.py). Both forecast the steps that just opened with a
deadline (partnerflow/forecast.py), and tell the contact person of one likely to be late.
Both write, in the same transaction, the webhook deliveries of the transition's new events
(partnerflow/webhook_outbox.py) and start their workflows once it is committed."""

import functools
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, or_
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.dml import Insert, ReturningInsert
from temporalio import activity

from activities.failures import classified
from activities.notifications import notice_rows
from partnerflow import forecast, webhook_outbox
from partnerflow.db import upsert_insert, utcnow
from partnerflow.models import Notification, Process, ProcessOffer, ProcessStep
from partnerflow.webhooks import DeliveryStarter
from workflows.messages import NotificationRequest, ProcessState, StepState, TransitionWrite

PROCESS: Table = Process.__table__  # type: ignore[attr-defined]
PROCESS_STEP: Table = ProcessStep.__table__  # type: ignore[attr-defined]
NOTIFICATION: Table = Notification.__table__  # type: ignore[attr-defined]
PROCESS_OFFER: Table = ProcessOffer.__table__  # type: ignore[attr-defined]


class ReadModelActivities:
    def __init__(self, engine: Engine, webhooks: DeliveryStarter | None = None) -> None:
        self._engine = engine
        # None: deliveries stay `pending` until the reconciler starts them
        self._webhooks = webhooks

    @activity.defn(no_thread_cancel_exception=True)
    def record_process_state(self, state: ProcessState) -> None:
        # Classified (activities/failures.py): a refused row is not retried, and no SQL or
        # parameters (a customer's data) go into Temporal's history.
        with classified(), self._engine.begin() as connection:
            write_notices(connection, _write_state(connection, state))
            queued = webhook_outbox.queue(connection, state)
        self._start_webhooks(queued)

    @activity.defn(no_thread_cancel_exception=True)
    def record_transition(self, write: TransitionWrite) -> ProcessState:
        """The state and its notices, all or nothing. A retried attempt writes nothing twice:
        the state by its version, each notice by its key. The notices are written even if a
        newer version won (a concurrent write need not carry them).

        Answers the state: a local activity's input is not in the history, its result is (in
        its marker), and that is where `partnerflow.read_model_repair` finds the last state
        a run recorded without a worker."""
        with classified(), self._engine.begin() as connection:
            at_risk = _write_state(connection, write.state, write.history_length)
            write_notices(connection, [*write.notices, *at_risk])
            queued = webhook_outbox.queue(connection, write.state)
        self._start_webhooks(queued)
        return write.state

    def _start_webhooks(self, queued: list[webhook_outbox.Queued]) -> None:
        if self._webhooks is not None:
            self._webhooks.start_soon(queued)


def write_notices(connection: Connection, requests: list[NotificationRequest]) -> int:
    """Each notice's rows unless its key is already there; answers how many were new."""
    rows = notice_rows(connection, requests)
    if not rows:
        return 0
    insert = upsert_insert(connection.dialect.name, NOTIFICATION)
    written = connection.execute(
        insert.on_conflict_do_nothing(index_elements=[NOTIFICATION.c.idempotency_key]).returning(
            NOTIFICATION.c.id
        ),
        rows,
    )
    return len(written.all())


def _write_state(
    connection: Connection, state: ProcessState, history_length: int = 0
) -> list[NotificationRequest]:
    """Write the state if it is newer; answers the `step_at_risk` notices of the steps that
    opened with it (their forecast is written too)."""
    # Writers race: updates on parallel steps, a timer and an update, a retried attempt
    # while its timed-out first one still runs. The version guard is therefore inside the
    # write itself, never a read before it (SQLite ignores FOR UPDATE, and pysqlite runs a
    # SELECT outside any transaction). The guarded upsert is the transaction's first
    # statement: it takes the write lock (SQLite) or the row lock (PostgreSQL) before
    # anything else happens, so the step rows below are written by the winner alone, in
    # its transaction, and a loser waits for the winner's commit before it is judged.
    if not _claim_version(connection, state, history_length):
        return []  # this version or a newer one is already recorded
    opened = []
    for position, step in enumerate(state.steps):
        row = _step_row(state, position, step)
        step_id, forecast_at = connection.execute(
            _step_upsert(connection.dialect.name, tuple(row)), {"id": uuid.uuid4(), **row}
        ).one()
        if _just_opened(step, forecast_at):
            opened.append(_open_step(state, step, step_id))
    _write_offers(connection, state)
    if not opened:
        return []
    now = utcnow()
    return forecast.at_risk_notices(connection, forecast.assess(connection, opened, now), now)


def _write_offers(connection: Connection, state: ProcessState) -> None:
    """Each offer of each step by its id: made, then answered, withdrawn or expired (a
    partner's open offers are its pending rows)."""
    rows = [
        {
            "id": offer.id,
            "process_id": state.process_id,
            "step_key": step.key,
            "partner_id": offer.partner_id,
            "status": offer.status,
            "offered_at": offer.offered_at,
            "expires_at": offer.expires_at,
            "answered_at": offer.answered_at,
        }
        for step in state.steps
        for offer in step.offers
    ]
    if not rows:
        return
    connection.execute(_offer_upsert(connection.dialect.name), rows)


def _just_opened(step: StepState, forecast_at: datetime | None) -> bool:
    """An open step with a deadline not yet forecast since it was (last) activated."""
    if step.status != "active" or step.due_at is None or step.activated_at is None:
        return False
    return forecast_at is None or forecast_at < step.activated_at


def _open_step(state: ProcessState, step: StepState, step_id: uuid.UUID) -> forecast.OpenStep:
    assert step.activated_at is not None and step.due_at is not None  # _just_opened
    return forecast.OpenStep(
        id=step_id,
        process_id=state.process_id,
        key=step.key,
        name=step.name,
        template_id=state.template_id,
        partner_id=step.assignee.partner_id,
        contact_user_id=state.contact_user_id,
        activated_at=step.activated_at,
        due_at=step.due_at,
    )


def _process_row(state: ProcessState) -> dict[str, Any]:
    """What each transition rewrites: a new read-model column is one line here."""
    return {
        "partner_ids": [str(p) for p in state.partner_ids],
        "status": state.status,
        "test": state.test,
        "started_at": state.started_at,
        "completed_at": state.completed_at,
        "cancel_reason": state.cancel_reason,
        "next_due_at": state.next_due_at,
        "timeline": [entry.model_dump(mode="json") for entry in state.timeline],
        "version": state.version,
        "attention": state.needs_attention,
        "attention_reason": state.attention_reason,
    }


def _step_row(state: ProcessState, position: int, step: StepState) -> dict[str, Any]:
    # A step no longer open loses its forecast; an open one keeps it until the next one.
    forecast_gone = (
        {"late_probability": None, "expected_done_at": None, "risk_basis": None}
        if step.status != "active"
        else {}
    )
    return forecast_gone | {
        "process_id": state.process_id,
        "key": step.key,
        "position": position,
        "name": step.name,
        "status": step.status,
        "assignee": step.assignee.model_dump(mode="json", exclude_none=True),
        "assignee_partner_id": step.assignee.partner_id,
        "assignee_user_id": step.assignee.user_id,
        "activated_at": step.activated_at,
        "completed_at": step.completed_at,
        "completed_by": step.completed_by.model_dump(mode="json") if step.completed_by else None,
        "fields": step.fields,
        "due_at": step.due_at,
        "overdue": step.overdue,
        "reviewer_user_id": step.reviewer_user_id,
        "review_rounds": step.review_rounds,
        "submitted_at": step.submitted_at,
    }


def _claim_version(connection: Connection, state: ProcessState, history_length: int) -> bool:
    """Write the process row if the state is newer than the one recorded; True if it was.

    One statement: the first transition inserts the row; a later one updates it only while
    the recorded version is older, and a concurrent first insert turns into that update.
    The same version made again by a workflow task that ran later in the history (its first
    attempt died after its local activity wrote) wins too: that one is the workflow's."""
    row = _process_row(state) | {"recorded_event": history_length}
    written = connection.execute(
        _process_upsert(connection.dialect.name, tuple(row)),
        {
            "id": state.process_id,
            "template_id": state.template_id,
            "template_version": state.template_version,
            "opportunity_id": state.opportunity_id,
            "contact_user_id": state.contact_user_id,
            **row,
        },
    )
    return written.first() is not None


# The upserts are built once per database and set of columns, their values bound when they
# run: building one (`insert.excluded` copies every column of the table) cost more CPU than
# running it, three to five times per transition.
@functools.cache
def _process_upsert(dialect: str, changing: tuple[str, ...]) -> ReturningInsert[Any]:
    insert = upsert_insert(dialect, PROCESS)
    return insert.on_conflict_do_update(
        index_elements=[PROCESS.c.id],
        set_={name: insert.excluded[name] for name in changing},
        where=or_(
            PROCESS.c.version < insert.excluded.version,
            and_(
                PROCESS.c.version == insert.excluded.version,
                PROCESS.c.recorded_event <= insert.excluded.recorded_event,
            ),
        ),
    ).returning(PROCESS.c.id)


@functools.cache
def _step_upsert(dialect: str, changing: tuple[str, ...]) -> ReturningInsert[Any, Any]:
    insert = upsert_insert(dialect, PROCESS_STEP)
    return insert.on_conflict_do_update(
        index_elements=[PROCESS_STEP.c.process_id, PROCESS_STEP.c.key],
        set_={name: insert.excluded[name] for name in changing},
    ).returning(PROCESS_STEP.c.id, PROCESS_STEP.c.risk_updated_at)


@functools.cache
def _offer_upsert(dialect: str) -> Insert:
    insert = upsert_insert(dialect, PROCESS_OFFER)
    return insert.on_conflict_do_update(
        index_elements=[PROCESS_OFFER.c.id],
        set_={name: insert.excluded[name] for name in ("status", "expires_at", "answered_at")},
    )
