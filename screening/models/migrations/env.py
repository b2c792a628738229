"""Alembic environment: always runs on the engine handed over by `screening.models.migrate`."""

from alembic import context
from sqlalchemy import Connection

from screening import models  # noqa: F401  (registers every table on Base.metadata)
from screening.core.db import Base

engine = context.config.attributes["engine"]


class BrokenForeignKeys(Exception):
    pass


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            # With the keys off, checked once every revision has run: a row naming one
            # that is gone stops `init-db` and names the rows, instead of passing unseen.
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise BrokenForeignKeys(f"rows naming rows that are gone: {broken[:5]}")


with engine.connect() as connection:
    if connection.dialect.name != "sqlite":
        run(connection)
    else:
        # Copying a table that others name (batch mode) drops the original: with foreign
        # keys on, that fails whenever a row names it. SQLite's own advice is to switch
        # them off for a schema change, outside any transaction, and check afterwards.
        connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
        connection.commit()
        try:
            run(connection)
        finally:
            connection.rollback()
            connection.exec_driver_sql("PRAGMA foreign_keys = ON")
            connection.commit()
