"""the shared pace of SMS sending, for the sms_rate_per_second cap

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_pace",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("next_slot", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sms_pace")),
    )


def downgrade() -> None:
    op.drop_table("sms_pace")
