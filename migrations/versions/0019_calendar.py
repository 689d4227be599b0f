"""calendar feeds and e-mail attachments

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 09:00:00.000000

`outboxattachment`: the files an outbox e-mail carries (a calendar invitation's .ics), stored
with the e-mail so a retry sends the same and the outbox serves them. `calendarevent`: the
SEQUENCE of each process step's calendar event (UID `{process_id}-{step_key}@partnerflow`) and
a hash of what the last .ics of it said. `calendarfeed`: each user's feed token, kept as its
SHA-256. New tables only: nothing to copy (e-mails sent before carry no attachment; a step's
first .ics after the upgrade starts at SEQUENCE 0).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import partnerflow.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _moment(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, partnerflow.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "outboxattachment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sqlmodel.AutoString(length=255), nullable=False),
        sa.Column("content_type", sqlmodel.AutoString(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["email_id"], ["outboxemail.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email_id", "position"),
    )
    op.create_index("ix_outboxattachment_email_id", "outboxattachment", ["email_id"])
    op.create_table(
        "calendarevent",
        sa.Column("process_id", sa.Uuid(), nullable=False),
        sa.Column("step_key", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("content_hash", sqlmodel.AutoString(length=64), nullable=False),
        _moment("changed_at", nullable=False),
        sa.PrimaryKeyConstraint("process_id", "step_key"),
    )
    op.create_table(
        "calendarfeed",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sqlmodel.AutoString(length=64), nullable=False),
        _moment("created_at", nullable=False),
        _moment("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_calendarfeed_user_id", "calendarfeed", ["user_id"])


def downgrade() -> None:
    op.drop_table("calendarfeed")
    op.drop_table("calendarevent")
    op.drop_table("outboxattachment")
