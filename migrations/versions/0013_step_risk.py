"""step risk: the late-step forecast on each open step, and the samples it reads

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 09:00:00.000000

Four nullable columns on the read model's step row (partnerflow/forecast.py writes them:
when a step opens, and every hour): `late_probability`, `expected_done_at`, `risk_basis`,
`risk_updated_at`. `ix_processstep_key_status_completed` serves the forecast's samples from
all partners (the newest completions of a step key). Nothing to copy: the first round of
the forecast fills them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import partnerflow.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("processstep", schema=None) as batch_op:
        batch_op.add_column(sa.Column("late_probability", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("expected_done_at", partnerflow.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("risk_basis", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("risk_updated_at", partnerflow.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_index(
        "ix_processstep_key_status_completed", "processstep", ["key", "status", "completed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_processstep_key_status_completed", table_name="processstep")
    with op.batch_alter_table("processstep", schema=None) as batch_op:
        batch_op.drop_column("risk_updated_at")
        batch_op.drop_column("risk_basis")
        batch_op.drop_column("expected_done_at")
        batch_op.drop_column("late_probability")
