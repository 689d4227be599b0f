"""people: token expiry and deactivation

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:40:00.000000

Tokens made before this revision get 90 days (the default `PARTNERFLOW_TOKEN_TTL_DAYS`)
from the upgrade on, not from when they were made: an upgrade must not lock anyone out.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import sqlmodel
from alembic import op

import partnerflow.db


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    grace = datetime.now(UTC) + timedelta(days=90)
    # A constant default fills the existing rows. SQLite adds such a column in place; a
    # copy of the table instead would have to drop `apitoken`, which web sessions refer to.
    if bind.dialect.name == "sqlite":
        existing_expiry = grace.strftime("%Y-%m-%d %H:%M:%S.%f")
    else:
        existing_expiry = grace.isoformat()
    with op.batch_alter_table('apitoken', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', partnerflow.db.UTCDateTime(timezone=True), nullable=False, server_default=existing_expiry))
        batch_op.add_column(sa.Column('last_used_at', partnerflow.db.UTCDateTime(timezone=True), nullable=True))
    if bind.dialect.name != "sqlite":
        # New tokens always name their expiry; the default was only for the rows above.
        op.alter_column('apitoken', 'expires_at', server_default=None)

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deactivated_at', partnerflow.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('deactivated_at')

    with op.batch_alter_table('apitoken', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('expires_at')
