"""appointments know their episode

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("episode_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_appointments_episode_id"), ["episode_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_appointments_episode_id_episodes"), "episodes", ["episode_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_appointments_episode_id_episodes"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_appointments_episode_id"))
        batch_op.drop_column("episode_id")
