"""episodes keep one index leading with patient_id

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ix_episodes_patient_questionnaire (patient_id, questionnaire_id) serves every lookup by
    # patient this one did.
    op.drop_index("ix_episodes_patient_id", table_name="episodes")


def downgrade() -> None:
    op.create_index("ix_episodes_patient_id", "episodes", ["patient_id"])
