"""A durable record of every job, so a run that dies can be resumed without repeating work.

SQLite (stdlib) in WAL mode with synchronous=FULL: each state change is committed
before the worker that made it goes on, so a ``kill -9`` at any moment leaves every
accepted job's status location on disk. One connection, guarded by a lock, is the
only writer; changes that arrive while it writes are committed together in the next
transaction (group commit), so many workers share one fsync. A file is inspected
read-only before anything is written to it, so a file we refuse is left as it was;
one run at a time holds a journal (a lock file beside it).
No QGIS here. Only hashes, status locations, result URIs, reasons and the run's
interval are stored: never the WPS URL or anything that could carry a credential.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..common.job_states import ACCEPTED, SUBMITTING

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

APPLICATION = "wit-dispatcher-journal"
VERSION = "1"


_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE jobs (
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
    """The journal file cannot be used or written; the message is for the user."""


@dataclass(frozen=True)
class Record:
    state: str
    status_location: str | None = None
    url: str | None = None
    error: str | None = None
    submissions: int = 0


def minute(moment: datetime) -> datetime:
    """``moment`` to the minute: the precision the WPS request carries, so key and request agree."""
    return moment.replace(second=0, microsecond=0)


def job_key(wps_url: str, process: str, geometry_collection: str, start: datetime, end: datetime) -> str:
    """What makes two jobs the same job: endpoint, process, lon/lat geometry and interval (to the minute)."""
    identity = json.dumps([wps_url, process, geometry_collection, minute(start).isoformat(), minute(end).isoformat()],
                          separators=(",", ":"))
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


class Journal:
    """Job states by job key. Thread-safe; a write returns once it is committed."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.Lock()  # the one writer (and reader) of the connection
        self._queue_lock = threading.Lock()
        self._pending: list = []
        self._run_lock = None
        _refuse_foreign(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._run_lock = _RunLock(self.path)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
            self._open()
        except (sqlite3.DatabaseError, OSError) as error:
            self._release()
            raise JournalError("JOURNAL '%s' cannot be used: %s" % (self.path, _reason(error))) from None
        except JournalError:
            self._release()
            raise

    def _open(self) -> None:
        tables = _tables(self._db)
        if tables:
            _check_meta(self.path, tables, _meta(self._db, tables))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        if not tables:
            self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "INSERT INTO meta VALUES ('application', '%s'), "
                                   "('version', '%s'); COMMIT;" % (APPLICATION, VERSION))

    def lookup(self, key: str) -> Record | None:
        row = self._read("SELECT state, status_location, url, error, submissions FROM jobs WHERE job_key = ?", (key,))
        return Record(*row[0]) if row else None

    def remembered_end(self) -> datetime | None:
        """END of the last run that used this journal, so a rerun without END resumes that run."""
        row = self._read("SELECT value FROM meta WHERE key = 'end'", ())
        return datetime.fromisoformat(row[0][0]) if row else None

    def remember_end(self, end: datetime) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES ('end', ?)", (minute(end).isoformat(),))

    def record_submission(self, key: str) -> bool:
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

    def record_possible_duplicate(self, key: str) -> None:
        self._write("UPDATE jobs SET possible_duplicates = possible_duplicates + 1 WHERE job_key = ?", (key,))

    def record_accepted(self, key: str, status_location: str) -> None:
        self._set(key, ACCEPTED, status_location=status_location)

    def record_finished(self, key: str, state: str, url: str = "", error: str = "") -> None:
        self._set(key, state, url=url or None, error=error or None)

    def _set(self, key: str, state: str, **values) -> None:
        assignments = ", ".join("%s = ?" % name for name in values)
        self._write("UPDATE jobs SET state = ?, %s, updated = ? WHERE job_key = ?" % assignments,
                    (state, *values.values(), time.time(), key))

    def _read(self, sql: str, parameters: tuple) -> list:
        try:
            with self._lock:
                return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise JournalError("JOURNAL '%s' could not be read: %s" % (self.path, _reason(error))) from None

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
            raise JournalError("JOURNAL '%s' could not be written: %s" % (self.path, _reason(item.error)))

    def _commit(self, batch: list) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for write in batch:
                self._db.execute(write.sql, write.parameters)
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            for write in batch:
                write.error = error
            self._roll_back()
        finally:
            for write in batch:
                write.done = True

    def _roll_back(self) -> None:
        """Leave no transaction open after a failed one, so the next write can succeed."""
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # a closed or broken connection: the next write reports it

    def counts(self) -> dict:
        return dict(self._read("SELECT state, count(*) FROM jobs GROUP BY state", ()))

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._release()

    def _release(self) -> None:
        if self._run_lock is not None:
            self._run_lock.release()
            self._run_lock = None


class _Write:
    __slots__ = ("sql", "parameters", "done", "error")

    def __init__(self, sql: str, parameters: tuple):
        self.sql = sql
        self.parameters = parameters
        self.done = False
        self.error: Exception | None = None


class JournalInUse(JournalError):
    """Another run holds this journal now."""


class _RunLock:
    """An exclusive lock on ``<journal>.lock`` for the run's lifetime; the OS drops it if the run dies.

    The file is removed on release while still locked; a run that locked a file that was
    removed meanwhile (its inode is no longer the path's) tries again, so two runs never
    both hold "the" lock. Where the file system cannot lock at all, the run goes on unlocked.
    """

    def __init__(self, journal: Path):
        self.path = journal.with_name(journal.name + ".lock")
        while True:
            self._file = open(self.path, "a+b")  # held open until release: closing drops the lock
            try:
                _lock(self._file)
            except OSError as error:
                self._file.close()
                if error.errno not in (errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK, errno.EDEADLK):
                    self._file = None  # no locking on this file system
                    return
                raise JournalInUse("JOURNAL '%s' is in use by another run; wait for it to end or choose another "
                                   "file" % journal) from None
            try:
                if os.stat(self.path).st_ino == os.fstat(self._file.fileno()).st_ino:
                    return
            except FileNotFoundError:
                pass
            self._file.close()

    def release(self) -> None:
        if self._file is None:
            return
        try:
            os.remove(self.path)
        except OSError:
            pass  # Windows keeps an open file; it stays, unlocked
        self._file.close()  # closing drops the lock


def _lock(file) -> None:
    if fcntl is not None:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:
        msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)


def _refuse_foreign(path: Path) -> None:
    """Refuse a file that is not a WIT journal, reading it only (nothing is written or created)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
        try:
            tables = _tables(db)
            meta = _meta(db, tables)
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        raise JournalError("JOURNAL '%s' cannot be used: %s" % (path, _reason(error))) from None
    if tables:
        _check_meta(path, tables, meta)


def _tables(db: sqlite3.Connection) -> set:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _meta(db: sqlite3.Connection, tables: set) -> dict | None:
    if "meta" not in tables:
        return None
    try:
        return dict(db.execute("SELECT key, value FROM meta"))
    except sqlite3.DatabaseError:  # a table named meta, of another shape
        return None


def _check_meta(path: Path, tables: set, meta: dict | None) -> None:
    if "meta" not in tables:
        raise JournalError("JOURNAL '%s' is an SQLite database of something else (tables: %s); "
                           "choose another file" % (path, ", ".join(sorted(tables))))
    if not meta or meta.get("application") != APPLICATION:
        raise JournalError("JOURNAL '%s' is not a WIT Dispatcher journal; choose another file" % path)
    if meta.get("version") != VERSION:
        raise JournalError("JOURNAL '%s' was written by another version of WIT Dispatcher (journal "
                           "version %s, this one reads %s)" % (path, meta.get("version"), VERSION))


def _reason(error: Exception) -> str:
    text = str(error)
    if "file is not a database" in text:
        return "it is not an SQLite file (a WIT Dispatcher journal is one); choose another file"
    return text
