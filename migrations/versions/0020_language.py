"""each user's language

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 09:00:00.000000

`user.language` (`de` | `en`) is the language the user reads the pages in; NULL (every
existing user) follows the browser's `Accept-Language`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("language")
