"""Stopping a run and waking its workers: one place every thread of a run waits in.

Workers sleep here between polls and retries. A stop (cancel, a halt for a reason, an
outage) wakes them at once, and so does a job seen finished: jobs sent together end
together, so the first seen finished tells the others to look again.
"""

from __future__ import annotations

import threading
import time

from .polling import Watch


class Cancelled(Exception):
    """Raised inside a worker when the run stops during a wait."""


class RunControl:
    """The run's stop signal, its reason, and the waits that end when either changes."""

    def __init__(self):
        self.stopped_because = ""
        self._stop = threading.Event()
        self._wake = threading.Condition()  # sleeping workers hear of a stop or of a job seen finished
        self._news = 0  # jobs seen finished so far: each tells the others' watches something new

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def halt(self, reason: str) -> None:
        """Stop the whole run for ``reason`` (the first one given is kept)."""
        if not self.stopped_because:
            self.stopped_because = reason
        self.stop()

    def stop(self) -> None:
        with self._wake:
            self._stop.set()
            self._wake.notify_all()

    def seen_finished(self) -> None:
        """A job was seen finished: every worker waiting to poll works out its next poll again."""
        with self._wake:
            self._news += 1
            self._wake.notify_all()

    def sleep(self, seconds: float) -> None:
        self._wait_until(time.monotonic() + seconds)

    def sleep_to_poll(self, watch: Watch, earliest: float, latest: float) -> None:
        """Sleep until the job's next poll is due, not before ``earliest`` nor after ``latest``.

        When is worked out again whenever another job of the run is seen finished.
        """
        while True:
            with self._wake:
                news = self._news
            due = min(max(watch.unfinished_at + watch.delay(), earliest), latest)  # outside the lock: it predicts
            if self._wait_until(due, news):
                return

    def _wait_until(self, due: float, news: int | None = None) -> bool:
        """Wait until ``due`` (True); with ``news``, only until a job is seen finished after it (False).

        Raises Cancelled as soon as the run stops."""
        with self._wake:
            while not self._stop.is_set() and news in (None, self._news) and due > time.monotonic():
                self._wake.wait(max(0.0, due - time.monotonic()))
            if self._stop.is_set():
                raise Cancelled()
            return news in (None, self._news)


class OutageWatch:
    """When each host last answered; a host silent for ``outage_seconds`` halts the run."""

    def __init__(self, control: RunControl, outage_seconds: float):
        self._control = control
        self._outage_seconds = outage_seconds
        now = time.monotonic()
        self._last_reply = {"WPS": now, "status host": now}

    def heard_from(self, host: str) -> None:
        self._last_reply[host] = time.monotonic()

    def check(self, host: str) -> None:
        """Halt the run and raise Cancelled if ``host`` has been silent too long."""
        silent = time.monotonic() - self._last_reply[host]
        if silent >= self._outage_seconds:
            self._control.halt("stopped: the %s gave no reply for %d s; run again with the same journal to resume"
                               % ("WPS server" if host == "WPS" else "server of the status documents", silent))
            raise Cancelled()
