"""recorded event: which workflow task wrote a process's read-model version

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 14:05:00.000000

The read model is written by a local activity, which runs before its workflow task is
recorded: a worker that dies after the write leaves the same version to be made again by
the task's next attempt, later in the history and with a later clock. `recorded_event` (the
history's length when the writing task ran) lets that attempt's write win
(activities/read_model.py). Rows written before count as 0, which any write of the same
version may replace, as the rows of a regular activity's retry.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("process", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recorded_event", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("process", schema=None) as batch_op:
        batch_op.drop_column("recorded_event")
