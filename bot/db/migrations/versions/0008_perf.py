"""perf: an index on referrals.asked_at, for routing's look at recent requests

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_referrals_asked_at", "referrals", ["asked_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_referrals_asked_at", table_name="referrals")
