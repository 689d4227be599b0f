"""scorecard covering indexes: a partner's completions read from indexes alone

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 09:00:00.000000

A scorecard reads each of the partner's completions in the period: when it opened, was
finished for review, completed, was due, its key and name, and its process's template and
test flag. `ix_processstep_partner_status_completed` now holds all of those after its
(partner, status, completed_at) prefix, and `ix_process_id_test_template` the process's two
columns, so the database answers from the two indexes without reading a table row (10,000
completions: partnerflow/scorecards.py, bench/insight.py). Indexes only: nothing to copy.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTNER_STEPS = "ix_processstep_partner_status_completed"
COVERED = ["activated_at", "submitted_at", "due_at", "key", "name", "process_id"]


def upgrade() -> None:
    op.drop_index(PARTNER_STEPS, table_name="processstep")
    op.create_index(
        PARTNER_STEPS,
        "processstep",
        ["assignee_partner_id", "status", "completed_at", *COVERED],
    )
    op.create_index("ix_process_id_test_template", "process", ["id", "test", "template_id"])


def downgrade() -> None:
    op.drop_index("ix_process_id_test_template", table_name="process")
    op.drop_index(PARTNER_STEPS, table_name="processstep")
    op.create_index(PARTNER_STEPS, "processstep", ["assignee_partner_id", "status", "completed_at"])
