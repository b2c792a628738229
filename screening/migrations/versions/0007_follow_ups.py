"""follow-up questionnaires scheduled from a task; the unable-to-contact text

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("episodes") as batch:
        batch.add_column(sa.Column("follow_up_task_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_episodes_follow_up_task_id_triage_tasks",
            "triage_tasks",
            ["follow_up_task_id"],
            ["id"],
            use_alter=True,
        )
        batch.create_index("ix_episodes_follow_up_task_id", ["follow_up_task_id"])
    with op.batch_alter_table("outbound_messages") as batch:
        batch.alter_column("kind", existing_type=sa.String(length=12), type_=sa.String(length=20))
        batch.drop_constraint(op.f("ck_outbound_messages_kind_known"), type_="check")
        batch.create_check_constraint(
            "kind_known", "kind IN ('invite', 'reminder', 'unable_to_contact')"
        )


def downgrade() -> None:
    op.execute("DELETE FROM outbound_messages WHERE kind = 'unable_to_contact'")
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_constraint(op.f("ck_outbound_messages_kind_known"), type_="check")
        batch.create_check_constraint("kind_known", "kind IN ('invite', 'reminder')")
        batch.alter_column("kind", existing_type=sa.String(length=20), type_=sa.String(length=12))
    with op.batch_alter_table("episodes") as batch:
        batch.drop_index("ix_episodes_follow_up_task_id")
        batch.drop_constraint(
            op.f("fk_episodes_follow_up_task_id_triage_tasks"), type_="foreignkey"
        )
        batch.drop_column("follow_up_task_id")
