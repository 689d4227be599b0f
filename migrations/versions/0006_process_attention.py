"""process attention flag

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import partnerflow.db


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A process whose e-mail or write failed for good is flagged, with the reason in words.
    # The default is a plain literal: SQLite then adds the column in place. An expression
    # (sa.false()) makes Alembic copy the table and drop `process`, which fails with foreign
    # keys on while steps, documents and comments refer to it.
    with op.batch_alter_table('process', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attention', sa.Boolean(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('attention_reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True))
        batch_op.create_index(batch_op.f('ix_process_attention'), ['attention'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('process', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_attention'))
        batch_op.drop_column('attention_reason')
        batch_op.drop_column('attention')
