"""Alembic environment: always runs on the engine handed over by `screening.models.migrate`."""

from alembic import context

from screening import models  # noqa: F401  (registers every table on Base.metadata)
from screening.core.db import Base

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
