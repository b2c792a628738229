"""follow-up questionnaires scheduled from a task; the unable-to-contact text; appointments
by time for the call lists; the queue covered by one index

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
    # The queue reads tasks alone: the clinic is copied onto each, and one index covers it.
    with op.batch_alter_table("triage_tasks") as batch:
        batch.add_column(sa.Column("clinic_code", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("domains", sa.String(length=400), nullable=True))
    op.execute(
        "UPDATE triage_tasks SET clinic_code = "
        "(SELECT clinic_code FROM episodes WHERE episodes.id = triage_tasks.episode_id)"
    )
    _copy_domains()
    op.drop_index("ix_triage_tasks_queue", table_name="triage_tasks")
    op.create_index(
        "ix_triage_tasks_queue",
        "triage_tasks",
        [
            "status",
            "priority",
            "created_at",
            "id",
            "clinic_code",
            "assigned_to_user_id",
            "domains",
        ],
    )


def _copy_domains() -> None:
    """Each task's flagged domains, " a b ", in the order raised (portable SQL has no
    ordered string aggregate common to SQLite and PostgreSQL, so it is folded here)."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT t.id, f.domain FROM triage_tasks t JOIN flags f ON f.response_id = "
            "t.response_id ORDER BY t.id, f.id"
        )
    )
    domains: dict[int, list[str]] = {}
    for task_id, domain in rows:
        if domain not in domains.setdefault(task_id, []):
            domains[task_id].append(domain)
    for task_id, names in domains.items():
        connection.execute(
            sa.text("UPDATE triage_tasks SET domains = :domains WHERE id = :id"),
            {"domains": f" {' '.join(names)} ", "id": task_id},
        )
    op.create_index("ix_appointments_at", "appointments", ["appointment_at"])
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
    op.drop_index("ix_appointments_at", table_name="appointments")
    op.execute("DELETE FROM outbound_messages WHERE kind = 'unable_to_contact'")
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_constraint(op.f("ck_outbound_messages_kind_known"), type_="check")
        batch.create_check_constraint("kind_known", "kind IN ('invite', 'reminder')")
        batch.alter_column("kind", existing_type=sa.String(length=20), type_=sa.String(length=12))
    op.drop_index("ix_triage_tasks_queue", table_name="triage_tasks")
    op.create_index("ix_triage_tasks_queue", "triage_tasks", ["status", "priority", "created_at"])
    with op.batch_alter_table("triage_tasks") as batch:
        batch.drop_column("domains")
        batch.drop_column("clinic_code")
    with op.batch_alter_table("episodes") as batch:
        batch.drop_index("ix_episodes_follow_up_task_id")
        batch.drop_constraint(
            op.f("fk_episodes_follow_up_task_id_triage_tasks"), type_="foreignkey"
        )
        batch.drop_column("follow_up_task_id")
