"""an unfinished questionnaire keeps the page it stands at, for the report's drop-off

Revision ID: 0014
Revises: 0013

Episodes answered before this revision have none until their next answer is saved, and
count at the start page until then.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("episodes") as batch:
        batch.add_column(sa.Column("stands_at", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("episodes") as batch:
        batch.drop_column("stands_at")
