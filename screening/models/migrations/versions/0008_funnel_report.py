"""the funnel report: each episode carries its appointment's time, and indexes to suit

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("episodes") as batch:
        batch.add_column(sa.Column("appointment_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE episodes SET appointment_at = (SELECT appointment_at FROM appointments "
        "WHERE appointments.id = episodes.appointment_id) WHERE appointment_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("episodes") as batch:
        batch.drop_column("appointment_at")
