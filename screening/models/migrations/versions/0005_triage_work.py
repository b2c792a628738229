"""the social prescriber's work: task versions, referral statuses, notes, calls by episode

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import screening.core.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OUTCOMES = "'support_arranged', 'referred', 'declined', 'unable_to_contact', 'not_needed'"


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=20), nullable=True))

    with op.batch_alter_table("triage_tasks") as batch:
        batch.add_column(sa.Column("closed_by_user_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.create_foreign_key(
            "fk_triage_tasks_closed_by_user_id_staff_users",
            "staff_users",
            ["closed_by_user_id"],
            ["id"],
        )
        batch.create_check_constraint(
            "outcome_known", f"outcome IS NULL OR outcome IN ({OUTCOMES})"
        )
        batch.create_index("ix_triage_tasks_holder", ["assigned_to_user_id", "status"])
    with op.batch_alter_table("triage_tasks") as batch:
        batch.alter_column("version", server_default=None)

    # Calls from the to-call list belong to an episode that may have no task.
    with op.batch_alter_table("contact_attempts") as batch:
        batch.add_column(sa.Column("episode_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE contact_attempts SET episode_id = "
        "(SELECT episode_id FROM triage_tasks WHERE triage_tasks.id = contact_attempts.task_id)"
    )
    with op.batch_alter_table("contact_attempts") as batch:
        batch.alter_column("episode_id", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("task_id", existing_type=sa.Integer(), nullable=True)
        batch.create_foreign_key(
            "fk_contact_attempts_episode_id_episodes", "episodes", ["episode_id"], ["id"]
        )
        batch.create_index("ix_contact_attempts_episode_id", ["episode_id"])
        batch.create_check_constraint(
            "method_known", "method IN ('phone', 'in_person', 'sms', 'letter', 'video')"
        )

    with op.batch_alter_table("referrals") as batch:
        batch.add_column(sa.Column("service_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("to_pcn", sa.Boolean(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("status", sa.String(length=12), nullable=False, server_default="made")
        )
        batch.add_column(
            sa.Column(
                "status_changed_at", screening.core.db.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.create_check_constraint(
            "status_known", "status IN ('made', 'accepted', 'declined', 'completed')"
        )
    with op.batch_alter_table("referrals") as batch:
        batch.alter_column("to_pcn", server_default=None)
        batch.alter_column("status", server_default=None)

    op.create_table(
        "task_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("written_at", screening.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by_user_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_user_id"], ["staff_users.id"], name=op.f("fk_task_notes_by_user_id_staff_users")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["triage_tasks.id"], name=op.f("fk_task_notes_task_id_triage_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_notes")),
    )
    op.create_index("ix_task_notes_task_id", "task_notes", ["task_id"])

    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("patient_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_audit_events_patient_id_patients", "patients", ["patient_id"], ["id"]
        )
        batch.create_index("ix_audit_events_patient_id", ["patient_id"])
        batch.create_index("ix_audit_events_subject", ["subject_type", "subject_id"])


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index("ix_audit_events_subject")
        batch.drop_index("ix_audit_events_patient_id")
        batch.drop_constraint(op.f("fk_audit_events_patient_id_patients"), type_="foreignkey")
        batch.drop_column("patient_id")
    op.drop_index("ix_task_notes_task_id", table_name="task_notes")
    op.drop_table("task_notes")
    with op.batch_alter_table("referrals") as batch:
        batch.drop_constraint(op.f("ck_referrals_status_known"), type_="check")
        for column in ("status_changed_at", "status", "to_pcn", "service_name"):
            batch.drop_column(column)
    op.execute("DELETE FROM contact_attempts WHERE task_id IS NULL")
    with op.batch_alter_table("contact_attempts") as batch:
        batch.drop_constraint(op.f("ck_contact_attempts_method_known"), type_="check")
        batch.drop_index("ix_contact_attempts_episode_id")
        batch.drop_constraint(op.f("fk_contact_attempts_episode_id_episodes"), type_="foreignkey")
        batch.drop_column("episode_id")
        batch.alter_column("task_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("triage_tasks") as batch:
        batch.drop_index("ix_triage_tasks_holder")
        batch.drop_constraint(op.f("ck_triage_tasks_outcome_known"), type_="check")
        batch.drop_constraint(
            op.f("fk_triage_tasks_closed_by_user_id_staff_users"), type_="foreignkey"
        )
        batch.drop_column("version")
        batch.drop_column("closed_by_user_id")
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("phone")
