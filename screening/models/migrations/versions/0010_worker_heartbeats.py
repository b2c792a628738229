"""when each host's worker last ran, for /healthz

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import screening.core.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("last_run_at", screening.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_worker_heartbeats")),
    )


def downgrade() -> None:
    op.drop_table("worker_heartbeats")
