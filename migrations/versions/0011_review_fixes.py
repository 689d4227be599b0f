"""review fixes: an opportunity being erased

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:00:00.000000

`opportunity.erasing_since` is set while a customer's erasure cancels the processes and waits
for them to end: starts, changes and automation runs on the opportunity are refused
meanwhile. A nullable column without a default: SQLite adds it in place (a copy of the table
would have to drop `opportunity`, which processes refer to).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import partnerflow.db

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erasing_since', partnerflow.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.drop_column('erasing_since')
