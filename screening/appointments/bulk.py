"""Multi-row reads and writes for the appointment import, in the fastest form each
database offers: `Bulk(connection)` with `among` (a key list as one parameter), `insert`
(new rows of one or more tables, their new ids given back to their records) and `update`
(changed rows by id). The import's rules know nothing of this; this knows nothing of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnDefault,
    ColumnElement,
    Connection,
    Table,
    any_,
    bindparam,
    func,
    select,
)

from ..core import clock


@dataclass(frozen=True)
class NewRows:
    """A table's new records, and how each becomes a row of it.

    `key` is a unique column, given by `values` or filled in by its default, by which SQLite's
    new ids are matched back to the records.
    """

    table: Table
    key: str
    records: Sequence[Any]
    values: Callable[[Any], dict[str, Any]]


# Columns whose default is `clock.now`: `Bulk` gives the rows of a batch the same moment.
STAMPED = frozenset({"created_at", "updated_at"})


class Bulk:
    """Multi-row reads and writes in the fastest form each database offers.

    PostgreSQL takes a list of values as one array: a key list through `= ANY`, each column
    of new or changed rows through `unnest`. So a statement's text is the same whatever the
    number of rows, and is parsed and planned as such (a thousand-row VALUES or IN list costs
    more to build and parse than to run). SQLite reads a key list from JSON (`among`), and
    runs one prepared statement over the rows (`executemany`).

    Values go through their column type's conversion for this database where it has one (the
    dialect's own form of the type: SQLite stores datetimes as text in exactly one format,
    which comparisons depend on), and the model's Python-side defaults are filled in, as a
    Core statement would.
    """

    def __init__(self, connection: Connection):
        self.connection = connection
        self.dialect = connection.dialect
        self.postgresql = self.dialect.name == "postgresql"

    def among(self, column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
        """`column IN values`, the values given as one parameter, whatever their number.

        PostgreSQL takes an array (`= ANY`); SQLite, which has none, a JSON list read by its
        `json_each` table function (the index on `column` is still used). One placeholder per
        value would make a statement to compile for every batch, which cost more than the
        query.
        """
        if self.postgresql:
            return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
        listed = func.json_each(bindparam(None, json.dumps(list(values)))).table_valued("value")
        return column.in_(select(listed.c.value))

    def insert(self, *tables: NewRows) -> None:
        """Insert each table's new records and set their ids.

        The tables are given in the order their references run: a record's references to
        records of earlier tables are known when its row is made. PostgreSQL takes every
        table in one statement, with the ids drawn first, so references to later tables are
        known too (an appointment's new episode): foreign keys are checked at the end of the
        statement, when every row is in. SQLite takes one table at a time and gives the ids
        as it goes, so such a reference is left empty, for the caller to set after.
        """
        tables = tuple(new for new in tables if new.records)
        if not tables:
            return
        moment = clock.now()  # one created_at for the batch, as it is written together
        if self.postgresql:
            self._insert_together(tables, moment)
        else:
            for new in tables:
                self._insert_table(new, moment)

    def _insert_table(self, new: NewRows, moment: datetime) -> None:
        """SQLite: one table's rows, their new ids then read back by `key`."""
        rows = [new.values(record) for record in new.records]
        same = self._defaults(new.table, rows, moment)
        columns = self._columns(new.table, rows, same)
        self.connection.exec_driver_sql(
            f"INSERT INTO {self._quote(new.table.name)} ({self._names(list(columns))}) "
            f"VALUES ({', '.join('?' * len(columns))})",
            list(zip(*columns.values(), strict=True)),
        )
        key = new.table.c[new.key]
        found = self.connection.execute(
            select(key, new.table.c.id).where(self.among(key, columns[new.key]))
        )
        ids = dict(found.all())
        for record, value in zip(new.records, columns[new.key], strict=True):
            record.id = ids[value]

    def _insert_together(self, tables: tuple[NewRows, ...], moment: datetime) -> None:
        """PostgreSQL: ids first, then every table in one statement, one CTE per table."""
        for new, ids in zip(tables, self._draw_ids(tables), strict=True):
            for record, new_id in zip(new.records, ids, strict=True):
                record.id = new_id
        inserts: list[str] = []
        parameters: dict[str, list[Any]] = {}
        for position, new in enumerate(tables):
            rows = [{"id": record.id, **new.values(record)} for record in new.records]
            same = self._defaults(new.table, rows, moment)
            columns = self._columns(new.table, rows, same)
            prefix = f"t{position}_"  # parameter names of one table, apart from the others'
            inserts.append(
                f"INSERT INTO {self._quote(new.table.name)} ({self._names(list(columns))}) "
                f"SELECT * FROM unnest({self._arrays(new.table, list(columns), prefix)})"
            )
            parameters.update({prefix + name: values for name, values in columns.items()})
        *first, last = inserts
        ctes = ", ".join(f"t{position} AS ({sql})" for position, sql in enumerate(first))
        self.connection.exec_driver_sql(f"WITH {ctes} {last}" if ctes else last, parameters)

    def _draw_ids(self, tables: tuple[NewRows, ...]) -> list[list[int]]:
        """New ids from each table's sequence, as many as it has new records, ascending.

        Ascending, like the ids an INSERT would give in the order of the records: the
        batch's newest episode is the one with the highest id.
        """
        arrays = ", ".join(
            f"ARRAY(SELECT nextval(CAST(seq AS regclass)) "
            f"FROM generate_series(1, %(count{position})s), "
            f"pg_get_serial_sequence(%(table{position})s, 'id') AS seq)"
            for position in range(len(tables))
        )
        parameters: dict[str, Any] = {}
        for position, new in enumerate(tables):
            parameters[f"count{position}"] = len(new.records)
            parameters[f"table{position}"] = new.table.name
        drawn = self.connection.exec_driver_sql(f"SELECT {arrays}", parameters).one()
        return [sorted(ids) for ids in drawn]

    def update(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Set the given columns of each row, found by its `id` (all rows give the same)."""
        if not rows:
            return
        names = [name for name in rows[0] if name != "id"]
        quoted = self._quote(table.name)
        columns = self._columns(table, rows, {})
        if self.postgresql:
            assignments = ", ".join(f"{self._quote(n)} = v.{self._quote(n)}" for n in names)
            self.connection.exec_driver_sql(
                f"UPDATE {quoted} SET {assignments} "
                f"FROM unnest({self._arrays(table, list(columns))}) "
                f"AS v({self._names(list(columns))}) WHERE {quoted}.id = v.id",
                columns,
            )
            return
        ids = columns.pop("id")
        self.connection.exec_driver_sql(
            f"UPDATE {quoted} SET {', '.join(f'{self._quote(n)} = ?' for n in names)} WHERE id = ?",
            list(zip(*columns.values(), ids, strict=True)),
        )

    def _quote(self, name: str) -> str:
        return self.dialect.identifier_preparer.quote(name)

    def _names(self, names: list[str]) -> str:
        return ", ".join(self._quote(name) for name in names)

    def _arrays(self, table: Table, names: list[str], prefix: str = "") -> str:
        # `%(...)b`: psycopg sends the arrays in binary. Their text form escapes every
        # element with regular expressions, which took longer than the server's insert.
        return ", ".join(
            f"CAST(%({prefix}{name})b AS {table.c[name].type.compile(dialect=self.dialect)}[])"
            for name in names
        )

    def _columns(
        self, table: Table, rows: list[dict[str, Any]], same: dict[str, Any]
    ) -> dict[str, list[Any]]:
        """Each column's values, converted for this database; `same` gives every row one."""
        columns = {}
        for name in rows[0]:
            convert = self._converter(table, name)
            values = [row[name] for row in rows]
            columns[name] = list(map(convert, values)) if convert else values
        for name, value in same.items():
            convert = self._converter(table, name)
            columns[name] = [convert(value) if convert else value] * len(rows)
        return columns

    def _converter(self, table: Table, name: str) -> Callable[[Any], Any] | None:
        return table.c[name].type.dialect_impl(self.dialect).bind_processor(self.dialect)

    @staticmethod
    def _defaults(table: Table, rows: list[dict[str, Any]], moment: datetime) -> dict[str, Any]:
        """Fill in the Python-side defaults the rows do not give; return those the same for all.

        created_at and updated_at take the batch's moment, computed and converted once where
        the model would call `clock.now()` for each row. A function default (public_id) is
        called for each row, into the rows; a plain value is the same for every row.
        """
        same: dict[str, Any] = {}
        for column in table.columns:
            default = column.default
            if column.name in rows[0] or column.primary_key:
                continue
            if column.name in STAMPED:
                same[column.name] = moment
            elif isinstance(default, ColumnDefault) and default.is_callable:
                for row in rows:
                    row[column.name] = default.arg(None)
            elif isinstance(default, ColumnDefault):
                same[column.name] = default.arg
        return same
