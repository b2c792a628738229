"""the urgent alert's mail, queued with the task and sent by the worker; staff session
generations

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import screening.core.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("staff_users") as batch:
        batch.alter_column("session_generation", server_default=None)
    op.create_table(
        "alert_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", screening.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", screening.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("sent_at", screening.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", screening.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent')", name=op.f("ck_alert_mails_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["triage_tasks.id"], name=op.f("fk_alert_mails_task_id_triage_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_mails")),
        sa.UniqueConstraint("task_id", name=op.f("uq_alert_mails_task_id")),
    )
    op.create_index("ix_alert_mails_status", "alert_mails", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_mails_status", table_name="alert_mails")
    op.drop_table("alert_mails")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("session_generation")
