"""webhook subscriptions and their deliveries

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 09:00:00.000000

`webhooksubscription`: a receiver's address, events and signing secret. `webhookdelivery`:
one event for one subscription, written with the process state that made it (the outbox),
and `webhookattempt`: each POST of it. `webhookcursor`: how far into each process's timeline
events were taken. New tables only: nothing to copy (processes running before send events
from their next transition on; earlier entries are older than every subscription).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import partnerflow.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _moment(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, partnerflow.db.UTCDateTime(timezone=True), nullable=nullable)


def _text(name: str, length: int, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.AutoString(length=length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "webhooksubscription",
        sa.Column("id", sa.Uuid(), nullable=False),
        _text("url", 2000),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _text("secret", 100),
        _text("previous_secret", 100, nullable=True),
        _moment("previous_secret_until", nullable=True),
        _moment("active_since", nullable=False),
        _text("disabled_reason", 200, nullable=True),
        _moment("created_at", nullable=False),
        _moment("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhookdelivery",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        _text("event_type", 32),
        sa.Column("process_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        _text("status", 16),
        sa.Column("series", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        _text("error", 500, nullable=True),
        _moment("created_at", nullable=False),
        _moment("queued_at", nullable=False),
        _moment("finished_at", nullable=True),
        sa.ForeignKeyConstraint(["subscription_id"], ["webhooksubscription.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "event_id"),
    )
    op.create_index(
        "ix_webhookdelivery_subscription_created",
        "webhookdelivery",
        ["subscription_id", "created_at"],
    )
    op.create_index("ix_webhookdelivery_status_queued", "webhookdelivery", ["status", "queued_at"])
    op.create_table(
        "webhookattempt",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("series", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        _moment("at", nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        _text("error", 500, nullable=True),
        sa.ForeignKeyConstraint(["delivery_id"], ["webhookdelivery.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhookattempt_delivery_id", "webhookattempt", ["delivery_id"])
    op.create_table(
        "webhookcursor",
        sa.Column("process_id", sa.Uuid(), nullable=False),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("process_id"),
    )


def downgrade() -> None:
    op.drop_table("webhookcursor")
    op.drop_table("webhookattempt")
    op.drop_table("webhookdelivery")
    op.drop_table("webhooksubscription")
