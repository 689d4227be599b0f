"""review and decline: a step's reviewer and rounds, and whose record a note counts on

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 09:00:00.000000

`processstep.reviewer_user_id` (indexed: `/api/my/tasks` lists the steps in review to their
reviewer), `processstep.review_rounds` (how often changes were requested so far) and
`processstep.submitted_at` (when the assignee last finished it for review) are
written by the read model from the workflow's state. `processnote.partner_id` names the
partner a decline or a request for changes counts on; `ix_processnote_partner_kind_created`
serves the scorecard's counts of both in a period. Rows written before count as 0 rounds and
no partner: there were no reviews or declines to count.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import partnerflow.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("processstep", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reviewer_user_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("review_rounds", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("submitted_at", partnerflow.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_processstep_reviewer_user_id", ["reviewer_user_id"])
    with op.batch_alter_table("processnote", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partner_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            "ix_processnote_partner_kind_created", ["partner_id", "kind", "created_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("processnote", schema=None) as batch_op:
        batch_op.drop_index("ix_processnote_partner_kind_created")
        batch_op.drop_column("partner_id")
    with op.batch_alter_table("processstep", schema=None) as batch_op:
        batch_op.drop_index("ix_processstep_reviewer_user_id")
        batch_op.drop_column("submitted_at")
        batch_op.drop_column("review_rounds")
        batch_op.drop_column("reviewer_user_id")
