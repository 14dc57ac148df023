"""Rows appended to a GeoPackage attribute table straight through SQLite.

Load WIT results' tables have many rows: TIMESERIES hundreds per wetland, ANNUAL about 34 of
55 values. As QGIS features, every value becomes a QVariant, OGR binds it again, and each
call gives up Python's lock, which the download workers then hold: 69,140 ANNUAL rows took 1.0 s
as features alone and 77 s beside one busy Python thread; here 0.4 s and 1.4 s. Plain values
are bound once, up to 500 rows to a statement: Python's sqlite3 gives up the lock for every
statement it runs, and taking it back behind a busy thread can take milliseconds, so a
statement per row (``executemany``) took 39 s beside that thread.
QGIS makes the table (its columns, ``gpkg_contents`` and OGR's feature count); this only
appends rows to it, as the GeoPackage standard stores them, and keeps OGR's count right.
No QGIS here.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from datetime import date

import numpy as np

COMMIT_ROWS = 100_000  # rows per transaction: a long run's rows reach the file as it goes
ROWS_PER_STATEMENT = 500  # at most: beyond it, fewer statements gained nothing measurable
# Values one statement may bind: SQLite's default from 3.32 (Python asks from 3.11), 999 before.
_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
_COUNT_TRIGGER = "trigger_insert_feature_count_%s"  # OGR's: one UPDATE per row inserted
_LOCK_WAIT_SECONDS = 60  # another program reading the file can hold a commit up


class UnsuitableTable(ValueError):
    """The table is not a fresh, empty attribute table with exactly the expected columns."""


class GeoPackageRows:
    """Appends rows of values as the file stores them (str, int, float, None; dates and times as
    ``day_text`` and ``moment_texts`` give them) to ``table`` of the GeoPackage at ``path``, in
    ``columns`` order. ``table`` None: the file's only table. Refuses (UnsuitableTable) a table
    that is not an empty attribute table with exactly those columns besides its ``fid``, so a
    table it did not see made is never written to, and the file is left as it was."""

    def __init__(self, path: str, table: str | None, columns: Sequence[str]):
        self._db = sqlite3.connect(path, isolation_level=None, timeout=_LOCK_WAIT_SECONDS)
        try:
            self.table = self._check(table, list(columns))
            self._columns = len(columns)
            self._head = "INSERT INTO %s (%s) VALUES " % (_quoted(self.table),
                                                         ", ".join(_quoted(name) for name in columns))
            variables = self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if hasattr(
                self._db, "getlimit") else _VARIABLES
            self._per_statement = max(1, min(ROWS_PER_STATEMENT, variables // self._columns))
            self._insert = self._statement(self._per_statement)
            self.count = 0  # rows written
            self._pending = 0  # rows written since the last commit
            # OGR's trigger would run an UPDATE per row; while it is away the count is NULL, which
            # OGR reads as "count the rows", so a run cut off leaves a file whose count is right.
            trigger = _COUNT_TRIGGER % self.table
            found = self._db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
                                     (trigger,)).fetchone()
            self._trigger_sql = found[0] if found else None
            self._has_counts = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'gpkg_ogr_contents'").fetchone() is not None
            self._db.execute("BEGIN")
            if self._trigger_sql:
                self._db.execute("DROP TRIGGER %s" % _quoted(trigger))
            self._set_count(None)
            self._db.execute("COMMIT")
            self._db.execute("BEGIN")
        except BaseException:
            self._db.close()
            raise

    def _check(self, table: str | None, columns: list[str]) -> str:
        tables = data_tables(self._db)
        if table is None:
            if len(tables) != 1:
                raise UnsuitableTable("the file has %d tables, not one" % len(tables))
            table = tables[0][0]
        kinds = dict(tables)
        if table not in kinds:
            raise UnsuitableTable("no table %s in the file" % table)
        if kinds[table] != "attributes":
            raise UnsuitableTable("table %s holds %s, not attributes" % (table, kinds[table]))
        present = [name for _, name, *_ in self._db.execute("PRAGMA table_info(%s)" % _quoted(table))]
        if present[1:] != columns or present[:1] != ["fid"]:
            raise UnsuitableTable("table %s has columns %s" % (table, ", ".join(present)))
        if self._db.execute("SELECT 1 FROM %s LIMIT 1" % _quoted(table)).fetchone():
            raise UnsuitableTable("table %s already has rows" % table)
        return table

    def _statement(self, rows: int) -> str:
        return self._head + ", ".join(["(%s)" % ", ".join("?" * self._columns)] * rows)

    def add(self, rows: list[Sequence]) -> None:
        """Appends ``rows``, each one value per column, at once (a statement per ROWS_PER_STATEMENT)."""
        step = self._per_statement
        for start in range(0, len(rows), step):
            chunk = rows[start:start + step]
            self._db.execute(self._insert if len(chunk) == step else self._statement(len(chunk)),
                             list(itertools.chain.from_iterable(chunk)))
            self.count += len(chunk)
            self._pending += len(chunk)
        if self._pending >= COMMIT_ROWS:
            self._db.execute("COMMIT")
            self._db.execute("BEGIN")
            self._pending = 0

    def _set_count(self, count: int | None) -> None:
        if self._has_counts:  # matched as OGR's own trigger matches it
            self._db.execute("UPDATE gpkg_ogr_contents SET feature_count = ? WHERE lower(table_name) = lower(?)",
                             (count, self.table))

    def close(self) -> None:
        """Commits the last rows together with OGR's feature count, its trigger and the table's last
        change. If that fails (another program holding the file, say), the file is as a run cut
        off leaves it: the rows committed before, OGR counting them itself."""
        if self._db is None:
            return
        try:
            try:
                self._set_count(self.count)
                if self._trigger_sql:
                    self._db.execute(self._trigger_sql)
                self._db.execute("UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                                 "WHERE table_name = ?", (self.table,))
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        finally:
            self._db.close()
            self._db = None


def data_tables(db: sqlite3.Connection) -> list[tuple[str, str]]:
    """(name, data type) of each table a GeoPackage holds, QGIS's own ``layer_styles`` left out."""
    return db.execute("SELECT table_name, data_type FROM gpkg_contents WHERE table_name != 'layer_styles'").fetchall()


def day_text(day: date) -> str:
    """A date as a GeoPackage DATE: YYYY-MM-DD."""
    return day.isoformat()


def moment_texts(nanoseconds: np.ndarray) -> list[str]:
    """UTC times (nanoseconds since the epoch) as GeoPackage DATETIMEs: YYYY-MM-DDTHH:MM:SS.SSSZ.
    Never NaT: read_series refuses a time column with empty values."""
    milliseconds = nanoseconds.astype("datetime64[ns]").astype("datetime64[ms]")
    return [text + "Z" for text in np.datetime_as_string(milliseconds, unit="ms").tolist()]


def _quoted(name: str) -> str:
    return '"%s"' % name.replace('"', '""')
