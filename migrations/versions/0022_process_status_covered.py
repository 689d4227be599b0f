"""a step's process read from an index: whether it runs, whether it is a test, its template

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 05:00:00.000000

`GET /api/my/tasks` keeps the caller's open steps whose process is running and not a test:
for each of a partner's steps (1,000 in bench/lists.py) the database looked the process up
by `ix_process_id_test_template` and then read its row for `status` (a row with the timeline
in it). With `status` in the index the lookup answers alone: the count of a partner's 1,000
open steps took 3.3 / 2.1 ms before and 1.4 / 0.9 ms after (SQLite, 100,000 processes, the
same file twice each). The index takes the place of 0016's, which the scorecard still finds
its template in: one index to keep up to date, not two.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "ix_process_id_test_template"
AFTER = "ix_process_id_test_status_template"


def upgrade() -> None:
    op.create_index(AFTER, "process", ["id", "test", "status", "template_id"])
    op.drop_index(BEFORE, table_name="process")


def downgrade() -> None:
    op.create_index(BEFORE, "process", ["id", "test", "template_id"])
    op.drop_index(AFTER, table_name="process")
