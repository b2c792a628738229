"""closing the loop: partner accounts bound to services, the services' answers on each
referral, the funnel's `helped` stage, the patient's GP practice, letters to practices,
and one mail outbox for every mail (the urgent alerts move into it)

Revision ID: 0015
Revises: 0014
"""

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

import screening.core.db

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

When = screening.core.db.UTCDateTime(timezone=True)

# Frozen here as they were when written: the models may move on.
STAGES = (
    "invited_at",
    "delivered_at",
    "opened_at",
    "completed_at",
    "flagged_at",
    "wants_help_at",
    "contacted_at",
    "referred_at",
    "helped_at",
)
BREAKDOWNS = {
    "totals": (),
    "cohort": ("clinic_code", "questionnaire_id", "mode"),
    "age_band": ("age_band",),
    "sex": ("sex",),
    "ethnicity": ("ethnicity",),
    "language": ("language",),
    "imd_decile": ("imd_decile",),
}
FILTERS = ("clinic_code", "questionnaire_id")
SCREENING = "follow_up_task_id IS NULL"
INVITED = f"{SCREENING} AND invited_at IS NOT NULL"
SQLITE_INVITED_DAY = (
    "substr(invited_at, 1, 10) || CASE WHEN substr(invited_at, 12, 2) = '23' THEN '+' ELSE '' END"
)
ROLES = "'admin', 'prescriber', 'clinician', 'partner'"
OLD_ROLES = "'admin', 'prescriber', 'clinician'"
REASONS = "'no_capacity', 'not_eligible', 'patient_declined', 'unable_to_contact', 'other'"
OUTCOMES = "'helped', 'partly_helped', 'not_helped'"
MAIL_KINDS = "'urgent_alert', 'referral_notice', 'referral_reminder', 'gp_letter'"


def _stages_reached(stages: tuple[str, ...]) -> str:
    return " + ".join(
        f"(CASE WHEN {name} IS NOT NULL THEN {1 << bit} ELSE 0 END)"
        for bit, name in enumerate(stages)
    )


def _funnel_indexes(sqlite: bool) -> list[tuple[str, tuple, str]]:
    indexes = [(name, keys, SCREENING) for name, keys in BREAKDOWNS.items()]
    if sqlite:
        return [*indexes, ("invited_day", (sa.text(SQLITE_INVITED_DAY),), INVITED)]
    return [*indexes, ("invited", ("invited_at",), INVITED)]


def _rebuild_stages_reached(stages: tuple[str, ...]) -> None:
    """The computed stages integer, and every index that carries it, for `stages`."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    indexes = _funnel_indexes(sqlite)
    for name, _, _ in indexes:
        op.drop_index(f"ix_episodes_funnel_{name}", table_name="episodes")
    # In place (SQLite 3.35+ drops a virtual column): a batch copy of episodes would drop
    # the table that every other table's foreign keys name.
    op.drop_column("episodes", "stages_reached")
    op.add_column(
        "episodes",
        sa.Column(
            "stages_reached",
            sa.Integer(),
            sa.Computed(_stages_reached(stages), persisted=not sqlite),
            nullable=True,
        ),
    )
    for name, keys, where in indexes:
        op.create_index(
            f"ix_episodes_funnel_{name}",
            "episodes",
            [*keys, "stages_reached", *(f for f in FILTERS if f not in keys)],
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def _roles(allowed: str) -> None:
    # SQLite copies the table to change its check (with foreign keys off, see env.py).
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_constraint(op.f("ck_staff_users_role_known"), type_="check")
        batch.create_check_constraint("role_known", f"role IN ({allowed})")


@contextlib.contextmanager
def _copying_referrals() -> Iterator[Any]:
    """SQLite copies the referrals table to change its checks. Reading its shape reads the
    tables it names too, down to the episodes, whose index on an expression SQLAlchemy
    cannot read (and need not: only the referrals table is copied)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        with op.batch_alter_table("referrals") as batch:
            yield batch


def upgrade() -> None:
    _roles(ROLES)
    op.create_table(
        "staff_services",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_users.id"], name=op.f("fk_staff_services_user_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "service_id", name=op.f("pk_staff_services")),
    )
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("gp_practice", sa.String(length=10), nullable=True))
    with _copying_referrals() as batch:
        batch.add_column(sa.Column("reason", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("accepted_at", When, nullable=True))
        batch.add_column(sa.Column("declined_at", When, nullable=True))
        batch.add_column(sa.Column("completed_at", When, nullable=True))
        batch.add_column(sa.Column("reminded_at", When, nullable=True))
        batch.create_check_constraint("reason_known", f"reason IS NULL OR reason IN ({REASONS})")
        batch.create_check_constraint(
            "outcome_known", f"outcome IS NULL OR outcome IN ({OUTCOMES})"
        )
        batch.create_index("ix_referrals_status", ["status", "referred_at", "task_id"])
        batch.create_index("ix_referrals_service", ["service_id", "status"])
    # Referrals answered before this revision keep their status; when is not known.
    op.create_table(
        "referral_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("by_user_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('made', 'accepted', 'declined', 'completed')",
            name=op.f("ck_referral_updates_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_updates_referral_id_referrals"),
        ),
        sa.ForeignKeyConstraint(
            ["by_user_id"],
            ["staff_users.id"],
            name=op.f("fk_referral_updates_by_user_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_updates")),
    )
    op.create_index("ix_referral_updates_referral_id", "referral_updates", ["referral_id"])
    op.add_column("episodes", sa.Column("helped_at", When, nullable=True))
    _rebuild_stages_reached(STAGES)
    op.create_table(
        "gp_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("practice_code", sa.String(length=10), nullable=True),
        sa.Column("made_at", When, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["triage_tasks.id"], name=op.f("fk_gp_letters_task_id_triage_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gp_letters")),
    )
    op.create_index("ix_gp_letters_task_id", "gp_letters", ["task_id"])
    op.create_table(
        "mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("letter_id", sa.Integer(), nullable=True),
        sa.Column("to_address", sa.String(length=320), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", When, nullable=True),
        sa.Column("claimed_at", When, nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("sent_at", When, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent')", name=op.f("ck_mails_status_known")
        ),
        sa.CheckConstraint(f"kind IN ({MAIL_KINDS})", name=op.f("ck_mails_kind_known")),
        sa.ForeignKeyConstraint(
            ["task_id"], ["triage_tasks.id"], name=op.f("fk_mails_task_id_triage_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referrals.id"], name=op.f("fk_mails_referral_id_referrals")
        ),
        sa.ForeignKeyConstraint(
            ["letter_id"], ["gp_letters.id"], name=op.f("fk_mails_letter_id_gp_letters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mails")),
    )
    op.create_index("ix_mails_status", "mails", ["status", "next_attempt_at"])
    op.create_index("ix_mails_task_id", "mails", ["task_id"])
    op.create_index("ix_mails_referral_id", "mails", ["referral_id"])
    op.create_index("ix_mails_letter_id", "mails", ["letter_id"])
    op.execute(
        "INSERT INTO mails (kind, task_id, status, attempts, next_attempt_at, claimed_at, "
        "last_error, sent_at, created_at) SELECT 'urgent_alert', task_id, status, attempts, "
        "next_attempt_at, claimed_at, last_error, sent_at, created_at FROM alert_mails "
        "ORDER BY id"
    )
    op.drop_index("ix_alert_mails_status", table_name="alert_mails")
    op.drop_table("alert_mails")


def downgrade() -> None:
    op.create_table(
        "alert_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", When, nullable=True),
        sa.Column("claimed_at", When, nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("sent_at", When, nullable=True),
        sa.Column("created_at", When, nullable=False),
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
    op.execute(
        "INSERT INTO alert_mails (task_id, status, attempts, next_attempt_at, claimed_at, "
        "last_error, sent_at, created_at) SELECT task_id, status, attempts, next_attempt_at, "
        "claimed_at, last_error, sent_at, created_at FROM mails WHERE kind = 'urgent_alert'"
    )
    for name in ("status", "task_id", "referral_id", "letter_id"):
        op.drop_index(f"ix_mails_{name}", table_name="mails")
    op.drop_table("mails")
    op.drop_index("ix_gp_letters_task_id", table_name="gp_letters")
    op.drop_table("gp_letters")
    op.drop_index("ix_referral_updates_referral_id", table_name="referral_updates")
    op.drop_table("referral_updates")
    _rebuild_stages_reached(STAGES[:-1])
    op.drop_column("episodes", "helped_at")
    with _copying_referrals() as batch:
        batch.drop_index("ix_referrals_service")
        batch.drop_index("ix_referrals_status")
        batch.drop_constraint(op.f("ck_referrals_outcome_known"), type_="check")
        batch.drop_constraint(op.f("ck_referrals_reason_known"), type_="check")
        for name in ("reminded_at", "completed_at", "declined_at", "accepted_at"):
            batch.drop_column(name)
        batch.drop_column("outcome")
        batch.drop_column("reason")
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("gp_practice")
    op.drop_table("staff_services")
    # Partners' accounts stay for the audit trail's sake, disabled.
    op.execute("UPDATE staff_users SET role = 'clinician', active = false WHERE role = 'partner'")
    _roles(OLD_ROLES)
