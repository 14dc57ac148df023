"""A durable record of every job, so a run that dies can be resumed without repeating work.

SQLite (stdlib) in WAL mode with synchronous=FULL: each state change is committed
before the worker that made it goes on, so a ``kill -9`` at any moment leaves every
accepted job's status location on disk. One connection, guarded by a lock, is the
only writer; changes that arrive while it writes are committed together in the next
transaction (group commit), so many workers share one fsync.
No QGIS here. Only hashes, status locations, result URIs and reasons are stored:
never the WPS URL or anything that could carry a credential.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

APPLICATION = "wit-dispatcher-journal"
VERSION = "1"

SUBMITTING = "submitting"
ACCEPTED = "accepted"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    status_location TEXT,
    url TEXT,
    error TEXT,
    submissions INTEGER NOT NULL DEFAULT 0,
    possible_duplicates INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL
);
"""


class JournalError(Exception):
    """The journal file cannot be used; the message is for the user."""


@dataclass(frozen=True)
class Record:
    state: str
    status_location: str | None = None
    url: str | None = None
    error: str | None = None
    submissions: int = 0


def job_key(wps_url: str, process: str, geometry_collection: str, start: datetime, end: datetime) -> str:
    """What makes two jobs the same job: endpoint, process, lon/lat geometry and interval."""
    identity = json.dumps([wps_url, process, geometry_collection, start.isoformat(), end.isoformat()],
                          separators=(",", ":"))
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


class Journal:
    """Job states by job key. Thread-safe; a write returns once it is committed."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.Lock()  # the one writer (and reader) of the connection
        self._queue_lock = threading.Lock()
        self._pending: list = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None,
                                       timeout=30)
            self._open()
        except (sqlite3.DatabaseError, OSError) as error:
            raise JournalError("JOURNAL '%s' cannot be used: %s" % (self.path, _reason(error))) from None

    def _open(self) -> None:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise JournalError("JOURNAL '%s' is an SQLite database of something else (tables: %s); "
                               "choose another file" % (self.path, ", ".join(sorted(tables))))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        if not meta:
            self._db.executemany("INSERT INTO meta VALUES (?, ?)",
                                 [("application", APPLICATION), ("version", VERSION)])
        elif meta.get("application") != APPLICATION:
            raise JournalError("JOURNAL '%s' is not a WIT Dispatcher journal; choose another file" % self.path)
        elif meta.get("version") != VERSION:
            raise JournalError("JOURNAL '%s' was written by another version of WIT Dispatcher (journal "
                               "version %s, this one reads %s)" % (self.path, meta.get("version"), VERSION))

    def lookup(self, key: str) -> Record | None:
        with self._lock:
            row = self._db.execute("SELECT state, status_location, url, error, submissions FROM jobs "
                                   "WHERE job_key = ?", (key,)).fetchone()
        return Record(*row) if row else None

    def submitting(self, key: str) -> bool:
        """Note the intent to submit, before the POST. True if an earlier submission's
        outcome is unknown (a duplicate job on the server is then possible).

        The dispatcher never runs two jobs with one key at once, so reading then
        writing is safe here.
        """
        previous = self.lookup(key)
        unknown = previous is not None and previous.state == SUBMITTING
        self._write(
            "INSERT INTO jobs (job_key, state, submissions, possible_duplicates, updated) "
            "VALUES (?, ?, 1, 0, ?) ON CONFLICT(job_key) DO UPDATE SET state = excluded.state, "
            "status_location = NULL, url = NULL, error = NULL, submissions = submissions + 1, "
            "possible_duplicates = possible_duplicates + ?, updated = excluded.updated",
            (key, SUBMITTING, time.time(), int(unknown)))
        return unknown

    def possible_duplicate(self, key: str) -> None:
        self._write("UPDATE jobs SET possible_duplicates = possible_duplicates + 1 WHERE job_key = ?", (key,))

    def accepted(self, key: str, status_location: str) -> None:
        self._set(key, ACCEPTED, status_location=status_location)

    def finished(self, key: str, state: str, url: str = "", error: str = "") -> None:
        self._set(key, state, url=url or None, error=error or None)

    def _set(self, key: str, state: str, **values) -> None:
        assignments = ", ".join("%s = ?" % name for name in values)
        self._write("UPDATE jobs SET state = ?, %s, updated = ? WHERE job_key = ?" % assignments,
                    (state, *values.values(), time.time(), key))

    def _write(self, sql: str, parameters: tuple) -> None:
        """Queue one statement and return once it is committed, by this thread or another."""
        item = _Write(sql, parameters)
        with self._queue_lock:
            self._pending.append(item)
        with self._lock:
            if not item.done:
                with self._queue_lock:
                    batch, self._pending = self._pending, []
                self._commit(batch)
        if item.error is not None:
            raise item.error

    def _commit(self, batch: list) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for write in batch:
                self._db.execute(write.sql, write.parameters)
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            for write in batch:
                write.error = error
        finally:
            for write in batch:
                write.done = True

    def counts(self) -> dict:
        with self._lock:
            return dict(self._db.execute("SELECT state, count(*) FROM jobs GROUP BY state"))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Write:
    __slots__ = ("sql", "parameters", "done", "error")

    def __init__(self, sql: str, parameters: tuple):
        self.sql = sql
        self.parameters = parameters
        self.done = False
        self.error: Exception | None = None


def _reason(error: Exception) -> str:
    text = str(error)
    if "file is not a database" in text:
        return "it is not an SQLite file (a WIT Dispatcher journal is one); choose another file"
    return text
