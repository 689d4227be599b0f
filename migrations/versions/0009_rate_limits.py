"""rate limits shared across API replicas

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import partnerflow.db


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ratelimitcount',
    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('window_start', partnerflow.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('expires_at', partnerflow.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_hash', 'window_start')
    )
    with op.batch_alter_table('ratelimitcount', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ratelimitcount_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ratelimitcount', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ratelimitcount_expires_at'))

    op.drop_table('ratelimitcount')
