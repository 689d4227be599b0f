"""dispatch: partners' service areas, staff absences, and offers of steps to partners

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 09:00:00.000000

`servicearea`: the postal code patterns a partner serves (`GET /api/partners?serves=`, and
the pool an offer goes to). `absence`: a staff user away and their substitute. `processoffer`:
the read model of each offer of a step to a partner, written with the process's state
(`GET /api/my/offers`). New tables only: nothing to copy.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import partnerflow.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _moment(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, partnerflow.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "servicearea",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("country", sqlmodel.AutoString(length=2), nullable=False),
        sa.Column("pattern", sqlmodel.AutoString(length=16), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "country", "pattern"),
    )
    op.create_index("ix_servicearea_partner_id", "servicearea", ["partner_id"])
    op.create_table(
        "absence",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        _moment("starts_at", nullable=False),
        _moment("ends_at", nullable=False),
        sa.Column("substitute_user_id", sa.Uuid(), nullable=False),
        _moment("created_at", nullable=False),
        _moment("moved_at", nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["substitute_user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id"),
    )
    op.create_index("ix_absence_ends_at", "absence", ["ends_at"])
    op.create_table(
        "processoffer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("process_id", sa.Uuid(), nullable=False),
        sa.Column("step_key", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("status", sqlmodel.AutoString(length=16), nullable=False),
        _moment("offered_at", nullable=False),
        _moment("expires_at", nullable=False),
        _moment("answered_at", nullable=True),
        sa.ForeignKeyConstraint(["process_id"], ["process.id"]),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_processoffer_process_id", "processoffer", ["process_id"])
    op.create_index("ix_processoffer_partner_status", "processoffer", ["partner_id", "status"])


def downgrade() -> None:
    op.drop_table("processoffer")
    op.drop_table("absence")
    op.drop_table("servicearea")
