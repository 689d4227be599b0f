"""personal data out of Temporal, and the customer's erasure

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 10:00:00.000000

`processnote` holds the free text people write about a process (a cancel or skip reason):
the workflow carries a note's id, never its text. `opportunity.erased_at`/`erased_by` record
that a customer's personal data was erased.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import partnerflow.db


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('processnote',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('process_id', sa.Uuid(), nullable=False),
    sa.Column('step_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('author_id', sa.Uuid(), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('created_at', partnerflow.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['process_id'], ['process.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('processnote', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processnote_process_id'), ['process_id'], unique=False)

    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', partnerflow.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('erased_by', sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.drop_column('erased_by')
        batch_op.drop_column('erased_at')

    with op.batch_alter_table('processnote', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processnote_process_id'))

    op.drop_table('processnote')
