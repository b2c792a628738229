"""the outbox's ready index follows the claim order

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_outbound_messages_ready", table_name="outbound_messages")
    op.create_index("ix_outbound_messages_ready", "outbound_messages", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbound_messages_ready", table_name="outbound_messages")
    op.create_index(
        "ix_outbound_messages_ready", "outbound_messages", ["status", "next_attempt_at"]
    )
