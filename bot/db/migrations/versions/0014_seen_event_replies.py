"""seen_events: the immediate replies of a handled event, kept until they have gone
(for a platform whose events are read back from history rather than kept in the inbox)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 22:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    with op.batch_alter_table("seen_events") as batch:
        batch.add_column(sa.Column("replies", json, nullable=True))
        batch.add_column(sa.Column("sender_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("seen_events") as batch:
        batch.drop_column("sender_id")
        batch.drop_column("replies")
