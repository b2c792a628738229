"""staff accounts remember the identity provider's subject they sign in as; audit
searches name the patient by id rather than by NHS number

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
    _searches_by_patient_id()


def _searches_by_patient_id() -> None:
    """Earlier audit-page events kept the NHS number searched for in `detail`, where a
    purge could not reach it: move it to `patient_id`, as new events have it."""
    events = sa.table(
        "audit_events",
        sa.column("id", sa.Integer),
        sa.column("action", sa.String),
        sa.column("patient_id", sa.Integer),
        sa.column("detail", sa.JSON),
    )
    patients = sa.table("patients", sa.column("id", sa.Integer), sa.column("nhs_number"))
    bind = op.get_bind()
    searches = bind.execute(
        sa.select(events.c.id, events.c.detail).where(events.c.action == "view_audit")
    ).all()
    for event_id, detail in searches:
        if not isinstance(detail, dict) or "patient" not in detail:
            continue
        number = detail.pop("patient")
        patient_id = bind.scalar(sa.select(patients.c.id).where(patients.c.nhs_number == number))
        bind.execute(
            sa.update(events)
            .where(events.c.id == event_id)
            .values(detail=detail or None, patient_id=patient_id)
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_constraint("uq_staff_users_sso_subject", type_="unique")
        batch.drop_column("sso_subject")
