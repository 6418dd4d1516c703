"""audit items: who audited each item, and when

Each item of an audit carries its own audited_by / audited_on, so that a new version of a
school's audit can hold items checked by the LA's auditor next to one the convenor added
(self-declared, or confirmed by someone outside the school). Existing items take their
audit's values.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audited_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("audited_on", sa.Date(), nullable=True))
    op.execute(
        "UPDATE audit_items SET "
        "audited_by = (SELECT audits.audited_by FROM audits WHERE audits.id = audit_items.audit_id), "
        "audited_on = (SELECT audits.audited_on FROM audits WHERE audits.id = audit_items.audit_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_items", schema=None) as batch_op:
        batch_op.drop_column("audited_on")
        batch_op.drop_column("audited_by")
