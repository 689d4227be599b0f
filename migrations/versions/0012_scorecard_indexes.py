"""scorecard indexes: a partner's finished steps by time, open steps by deadline

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09 09:00:00.000000

`ix_processstep_partner_status_completed` serves a partner's scorecard: its completed steps
in a period, and its open ones (`status = 'active'`), without reading anyone else's.
`ix_processstep_status_due` serves the dashboard's open steps by deadline week: the open
steps with a deadline, not the whole history of finished ones. Indexes only: nothing to copy.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_processstep_partner_status_completed',
        'processstep',
        ['assignee_partner_id', 'status', 'completed_at'],
    )
    op.create_index('ix_processstep_status_due', 'processstep', ['status', 'due_at'])


def downgrade() -> None:
    op.drop_index('ix_processstep_status_due', table_name='processstep')
    op.drop_index('ix_processstep_partner_status_completed', table_name='processstep')
