"""staff accounts remember the identity provider's subject they sign in as

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("sso_subject", sa.String(length=400), nullable=True))
        batch.create_unique_constraint("uq_staff_users_sso_subject", ["sso_subject"])


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_constraint("uq_staff_users_sso_subject", type_="unique")
        batch.drop_column("sso_subject")
