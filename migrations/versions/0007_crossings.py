"""crossings between the database and Temporal

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import partnerflow.db


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Documents uploaded before this revision were all taken by their workflow: attached.
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default='attached'))
        batch_op.create_index(batch_op.f('ix_document_status'), ['status'], unique=False)
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.alter_column('status', server_default=None)

    with op.batch_alter_table('automationrun', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_automationrun_outcome'), ['outcome'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('automationrun', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_automationrun_outcome'))

    # A pending upload was never taken by its workflow: it does not survive the downgrade.
    op.execute("DELETE FROM document WHERE status = 'pending'")
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_status'))
        batch_op.drop_column('status')
