"""Rows appended to a GeoPackage attribute table straight through SQLite.

A national layer's ANNUAL has about 34 rows of 62 values per wetland, ten million rows at
300,000 wetlands. As a QgsFeature each (every value a QVariant, then bound again by OGR) they
cost more than anything else the load does. Here plain Python values are bound once, hundreds
of rows to a statement: Python's sqlite3 gives up the interpreter's lock for every statement it
runs, and with the download workers busy, taking it back costs up to a few milliseconds, so a
statement per row (``executemany``) is many times slower than the rows themselves.
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
ROWS_PER_STATEMENT = 500  # at most: SQLite's default limit on a compound statement's terms
_OLD_VARIABLE_LIMIT = 999  # SQLite's limit on a statement's values before 3.32, where Python cannot ask
_COUNT_TRIGGER = "trigger_insert_feature_count_%s"  # OGR's: one UPDATE per row inserted


class UnsuitableTable(ValueError):
    """The table is not a fresh, empty attribute table with exactly the expected columns."""


class GeoPackageRows:
    """Appends rows of values as the file stores them (str, int, float, None; dates and times as
    ``day_text`` and ``moment_texts`` give them) to ``table`` of the GeoPackage at ``path``, in
    ``columns`` order. ``table`` None: the file's only table. Refuses (UnsuitableTable) a table that is not an
    empty attribute table with exactly those columns besides its ``fid``, so a table it did not
    see made is never written to."""

    def __init__(self, path: str, table: str | None, columns: Sequence[str]):
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self.table = self._check(table, list(columns))
        except Exception:
            self._db.close()
            raise
        self._columns = len(columns)
        self._head = "INSERT INTO %s (%s) VALUES " % (_quoted(self.table), ", ".join(_quoted(c) for c in columns))
        variables = self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if hasattr(
            self._db, "getlimit") else _OLD_VARIABLE_LIMIT  # Python 3.11 on
        self._per_statement = max(1, min(ROWS_PER_STATEMENT, variables // self._columns))
        self._insert = self._statement(self._per_statement)
        self._waiting: list = []  # fewer rows than a statement takes, written with the next ones
        self.count = 0  # rows written
        self._pending = 0  # rows written since the last commit
        # OGR's trigger would run an UPDATE per row; while it is away the count is NULL, which OGR
        # reads as "count the rows", so a run cut off leaves a file whose count is still right.
        trigger = _COUNT_TRIGGER % self.table
        found = self._db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
                                 (trigger,)).fetchone()
        self._trigger_sql = found[0] if found else None
        self._has_counts = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'gpkg_ogr_contents'").fetchone() is not None
        self._db.execute("BEGIN")
        if self._trigger_sql:
            self._db.execute("DROP TRIGGER %s" % _quoted(trigger))
        if self._has_counts:
            self._db.execute("UPDATE gpkg_ogr_contents SET feature_count = NULL WHERE lower(table_name) = lower(?)",
                             (self.table,))
        self._db.execute("COMMIT")
        self._db.execute("BEGIN")

    def _check(self, table: str | None, columns: list[str]) -> str:
        tables = self._db.execute("SELECT table_name, data_type FROM gpkg_contents WHERE table_name != "
                                  "'layer_styles'").fetchall()
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
        """Appends ``rows``, each one value per column; fewer than a statement takes wait for the next."""
        waiting = self._waiting
        waiting += rows
        step = self._per_statement
        whole = len(waiting) - len(waiting) % step
        for start in range(0, whole, step):
            self._db.execute(self._insert, list(itertools.chain.from_iterable(waiting[start:start + step])))
        del waiting[:whole]
        self._written(whole)

    def _written(self, rows: int) -> None:
        self.count += rows
        self._pending += rows
        if self._pending >= COMMIT_ROWS:
            self._db.execute("COMMIT")
            self._db.execute("BEGIN")
            self._pending = 0

    def close(self) -> None:
        """Writes the rows still waiting and commits, then puts OGR's feature count and its
        trigger back, and the table's last change."""
        if self._db is None:
            return
        db, self._db = self._db, None
        try:
            if self._waiting:
                db.execute(self._statement(len(self._waiting)), list(itertools.chain.from_iterable(self._waiting)))
                self.count += len(self._waiting)
                self._waiting = []
            db.execute("COMMIT")
            db.execute("BEGIN")
            if self._has_counts:
                db.execute("UPDATE gpkg_ogr_contents SET feature_count = ? WHERE lower(table_name) = lower(?)",
                           (self.count, self.table))
            if self._trigger_sql:
                db.execute(self._trigger_sql)
            db.execute("UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                       "WHERE table_name = ?", (self.table,))
            db.execute("COMMIT")
        finally:
            db.close()


def day_text(day: date) -> str:
    """A date as a GeoPackage DATE: YYYY-MM-DD."""
    return day.isoformat()


def moment_texts(nanoseconds: np.ndarray) -> list[str]:
    """UTC times (nanoseconds since the epoch) as GeoPackage DATETIMEs: YYYY-MM-DDTHH:MM:SS.SSSZ."""
    milliseconds = nanoseconds.astype("datetime64[ns]").astype("datetime64[ms]")
    return [text + "Z" for text in np.datetime_as_string(milliseconds, unit="ms").tolist()]


def _quoted(name: str) -> str:
    return '"%s"' % name.replace('"', '""')

