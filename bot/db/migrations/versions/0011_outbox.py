"""outbox: when a failed message was reported to the convenor (outbox.reported_at), and the
keys of messages retention removed (outbox_keys)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reported_at", sa.DateTime(), nullable=True))
    # Failures from before were reported under the old scheme (one batch key): not again.
    op.execute("UPDATE outbox SET reported_at = created_at WHERE status = 'failed'")
    op.create_table(
        "outbox_keys",
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name=op.f("fk_outbox_keys_network_id_networks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("network_id", "platform", "key", name=op.f("pk_outbox_keys")),
    )
    op.create_index(op.f("ix_outbox_keys_at"), "outbox_keys", ["at"], unique=False)
    op.create_index(op.f("ix_outbox_keys_person_id"), "outbox_keys", ["person_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_keys_person_id"), table_name="outbox_keys")
    op.drop_index(op.f("ix_outbox_keys_at"), table_name="outbox_keys")
    op.drop_table("outbox_keys")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("reported_at")
