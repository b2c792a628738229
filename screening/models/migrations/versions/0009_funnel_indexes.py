"""the funnel reads each pass from an index: the stages an episode has reached as one
computed integer, a covering index per breakdown, for the day of invitation and for the
wait to first contact, answers with their values, tasks by outcome; follow-ups indexed alone, and
episodes by clinic through the funnel's index

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

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
)
STAGES_REACHED = " + ".join(
    f"(CASE WHEN {name} IS NOT NULL THEN {1 << bit} ELSE 0 END)" for bit, name in enumerate(STAGES)
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
CONTACTED = f"{SCREENING} AND contacted_at IS NOT NULL"
SQLITE_INVITED_DAY = (
    "substr(invited_at, 1, 10) || CASE WHEN substr(invited_at, 12, 2) = '23' THEN '+' ELSE '' END"
)


def _funnel_index(name: str, keys: tuple, where: str, counts: tuple = ("stages_reached",)) -> None:
    op.create_index(
        f"ix_episodes_funnel_{name}",
        "episodes",
        [*keys, *counts, *(f for f in FILTERS if f not in keys)],
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite adds a virtual column at once; PostgreSQL stores it, rewriting the table.
    with op.batch_alter_table("episodes") as batch:
        batch.add_column(
            sa.Column(
                "stages_reached",
                sa.Integer(),
                sa.Computed(STAGES_REACHED, persisted=not sqlite),
                nullable=True,
            )
        )
    # Follow-ups alone: an index of every episode's follow_up_task_id tempted SQLite to read
    # the screening episodes through it, row by row, rather than through a covering index.
    op.drop_index("ix_episodes_follow_up_task_id", table_name="episodes")
    # Episodes by clinic: ix_episodes_funnel_cohort leads with the clinic now.
    op.drop_index("ix_episodes_clinic_created", table_name="episodes")
    op.create_index(
        "ix_episodes_follow_ups",
        "episodes",
        ["follow_up_task_id"],
        sqlite_where=sa.text("follow_up_task_id IS NOT NULL"),
        postgresql_where=sa.text("follow_up_task_id IS NOT NULL"),
    )
    for name, keys in BREAKDOWNS.items():
        _funnel_index(name, keys, SCREENING)
    _funnel_index("contacted", (), CONTACTED, counts=("completed_at", "contacted_at"))
    if sqlite:
        _funnel_index("invited_day", (sa.text(SQLITE_INVITED_DAY),), INVITED)
        op.create_index("ix_answers_episode_value", "answers", ["episode_id", "item_id", "value"])
    else:
        _funnel_index("invited", ("invited_at",), INVITED)
    op.create_index("ix_triage_tasks_outcome", "triage_tasks", ["status", "outcome", "episode_id"])


def downgrade() -> None:
    op.drop_index("ix_triage_tasks_outcome", table_name="triage_tasks")
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_answers_episode_value", table_name="answers")
        op.drop_index("ix_episodes_funnel_invited_day", table_name="episodes")
    else:
        op.drop_index("ix_episodes_funnel_invited", table_name="episodes")
    for name in (*BREAKDOWNS, "contacted"):
        op.drop_index(f"ix_episodes_funnel_{name}", table_name="episodes")
    op.drop_index("ix_episodes_follow_ups", table_name="episodes")
    op.create_index("ix_episodes_follow_up_task_id", "episodes", ["follow_up_task_id"])
    op.create_index("ix_episodes_clinic_created", "episodes", ["clinic_code", "created_at"])
    # Dropped in place (SQLite 3.35+): a batch copy of episodes would drop the table that
    # every other table's foreign keys name.
    op.drop_column("episodes", "stages_reached")
