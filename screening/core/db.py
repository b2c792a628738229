"""SQLAlchemy engine, session and declarative base.

Plain SQLAlchemy 2 rather than Flask-SQLAlchemy: the CLI, the worker and the web app share
one engine and session factory, and the typed `select()` style needs nothing more.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

# Stable constraint names, so Alembic migrations behave the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zones; storing UTC and re-attaching it on the way out keeps
    comparisons and arithmetic identical to PostgreSQL's `timestamptz`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; NORMAL is durable at each checkpoint under
    # WAL; the busy timeout makes concurrent writers wait instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class _SQLiteHints(SQLiteCompiler):
    """SQLite's compiler, with the hints a query names for a table (`with_hint(..., "sqlite")`)
    written after it, as SQLite's INDEXED BY must be; SQLAlchemy's own leaves them out.
    The funnel's passes name their covering indexes so (see reports.queries._through)."""

    def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
        return text


def make_engine(url: str | URL, **pool: int) -> Engine:
    """An engine for `url`; `pool` may size its pool (`pool_size`, `max_overflow`)."""
    # hide_parameters: a failed statement's message (logged with its traceback) would
    # otherwise carry the values it was writing: names, NHS numbers, answers.
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, hide_parameters=True, **pool)
        engine.dialect.statement_compiler = _SQLiteHints
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(parsed, pool_pre_ping=True, hide_parameters=True, **pool)


class Database:
    """The engine and a scoped session, bound to an app with `init_app`."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session: scoped_session[Session] = scoped_session(sessionmaker(expire_on_commit=False))

    def configure(self, url: str) -> None:
        if self.engine is not None:
            self.session.remove()
            self.engine.dispose()
        self.engine = make_engine(url)
        self.session.configure(bind=self.engine)

    def init_app(self, app: Any) -> None:
        self.configure(app.config["DATABASE_URL"])
        app.teardown_appcontext(lambda _exc: self.end_session())

    def end_session(self) -> None:
        """Close the request's session. When the database went away during the request (a
        restart), the rollback that closing does fails: the reply is already made, so the
        connection is dropped (the pool replaces it) instead of failing the request."""
        try:
            self.session.remove()
        except SQLAlchemyError as exc:
            log.warning("database connection lost at the end of a request (%s)", type(exc).__name__)
            self.session.registry.clear()


db = Database()
