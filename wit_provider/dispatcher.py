"""A bounded pool of WPS jobs: submit, poll to the end, hand back outcomes in input order.

No QGIS here: jobs arrive as plain data (an index and an Execute document) from a lazy
iterator, and outcomes leave the same way, so the algorithm can stream features in and
out without holding the layer in memory. At most ``max_concurrent`` jobs are in flight
(submitted and not finished) at any moment: each worker thread holds one job at a time.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Callable

from .client import TransientError
from .wps import JobState, JobStatus, WpsException

SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED = "skipped"
TIMEOUT = "timeout"
CANCELLED = "cancelled"
STATUSES = (SUCCEEDED, FAILED, SKIPPED, TIMEOUT, CANCELLED)

_TICK = 0.2  # how often the dispatching thread looks at cancel and progress, in seconds


@dataclass(frozen=True)
class Job:
    """One feature's work: the Execute document to send, or the reason it is skipped."""

    index: int
    execute: bytes | None = None
    skip_reason: str = ""


@dataclass(frozen=True)
class Outcome:
    index: int
    status: str
    url: str = ""
    error: str = ""


@dataclass(frozen=True)
class PollSchedule:
    """Poll often while a job is young and rarely once it has run long: the delay before
    the next poll is a fraction of the job's age, kept between ``first`` and ``cap``."""

    first: float = 0.5
    fraction: float = 0.25
    cap: float = 30.0

    def delay(self, age: float) -> float:
        return min(self.cap, max(self.first, age * self.fraction))


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter, for a bounded number of attempts."""

    attempts: int = 5
    base: float = 1.0
    cap: float = 30.0
    poll_failures: int = 10  # consecutive failed polls tolerated before a job is given up

    def backoff(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2 ** attempt))


@dataclass
class Tally:
    """Counts of the run so far, for the progress bar and the monitor line."""

    total: int | None = None
    running: int = 0
    counts: dict = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))

    @property
    def finished(self) -> int:
        return sum(self.counts.values())

    def monitor_line(self) -> str:
        extra = ", ".join("%d %s" % (self.counts[s], s) for s in (SKIPPED, TIMEOUT, CANCELLED) if self.counts[s])
        line = "%d running, %d completed, %d failed" % (self.running, self.counts[SUCCEEDED], self.counts[FAILED])
        return line + (", " + extra if extra else "")


class Dispatcher:
    """Runs jobs through a client with ``submit(bytes)`` and ``poll(location)`` methods.

    One Dispatcher serves one run: create a new one for every run.
    """

    def __init__(self, client, max_concurrent: int, timeout: float,
                 schedule: PollSchedule = PollSchedule(), retry: RetryPolicy = RetryPolicy(),
                 seed: int | None = None):
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.client = client
        self.max_concurrent = max_concurrent
        self.timeout = timeout
        self.schedule = schedule
        self.retry = retry
        self._rng = random.Random(seed)
        self._stop = threading.Event()

    def run(self, jobs: Iterable[Job], is_cancelled: Callable[[], bool] = lambda: False,
            on_progress: Callable[[Tally], None] = lambda tally: None,
            total: int | None = None) -> Iterator[Outcome]:
        """Yield one Outcome per job read, in input order.

        On cancel, in-flight jobs end ``cancelled`` and the iterator stops after the
        last job it read: jobs it never read are the caller's to mark.
        """
        tally = Tally(total=total)
        todo: queue.Queue = queue.Queue()
        done: queue.Queue = queue.Queue()
        workers = [threading.Thread(target=self._work, args=(todo, done), daemon=True, name="wit-worker-%d" % i)
                   for i in range(self.max_concurrent)]
        for worker in workers:
            worker.start()
        ready: dict[int, Outcome] = {}
        read = 0
        emitted = 0
        source = iter(jobs)
        exhausted = False
        try:
            while True:
                if is_cancelled():
                    self._stop.set()
                    break
                while not exhausted and tally.running < self.max_concurrent:
                    job = next(source, None)
                    if job is None:
                        exhausted = True
                    elif job.skip_reason or job.execute is None:
                        ready[job.index] = Outcome(job.index, SKIPPED, error=job.skip_reason)
                        tally.counts[SKIPPED] += 1
                        read += 1
                    else:
                        todo.put(job)
                        tally.running += 1
                        read += 1
                while emitted in ready:
                    yield ready.pop(emitted)
                    emitted += 1
                if exhausted and tally.running == 0:
                    break
                try:
                    outcome = done.get(timeout=_TICK)
                    ready[outcome.index] = outcome
                    tally.running -= 1
                    tally.counts[outcome.status] += 1
                except queue.Empty:
                    pass
                on_progress(tally)
            for index in range(emitted, read):
                yield ready.get(index) or Outcome(index, CANCELLED, error="cancelled before the job finished")
        finally:
            self._stop.set()
            for _ in workers:
                todo.put(None)

    def _work(self, todo: queue.Queue, done: queue.Queue) -> None:
        while True:
            job = todo.get()
            if job is None:
                return
            if self._stop.is_set():
                continue
            try:
                outcome = self._run_job(job)
            except Exception as error:  # a bug must not silently lose a feature
                outcome = Outcome(job.index, FAILED, error="internal error: %r" % (error,))
            done.put(outcome)

    def _run_job(self, job: Job) -> Outcome:
        try:
            status = self._submit(job.execute)
        except WpsException as error:
            return Outcome(job.index, FAILED, error=str(error))
        except TransientError as error:
            return Outcome(job.index, FAILED, error="gave up submitting: %s" % error)
        except _Cancelled:
            return Outcome(job.index, CANCELLED, error="cancelled before the job was accepted")
        return self._follow(job, status)

    def _submit(self, execute: bytes) -> JobStatus:
        for attempt in range(self.retry.attempts):
            try:
                return self.client.submit(execute)
            except TransientError as error:
                if not error.unsent or attempt + 1 == self.retry.attempts:
                    raise
                self._sleep(error.retry_after if error.retry_after is not None
                            else self.retry.backoff(attempt, self._rng))
        raise AssertionError("unreachable")

    def _follow(self, job: Job, status: JobStatus) -> Outcome:
        accepted = time.monotonic()
        failures = 0
        while not status.state.finished:
            age = time.monotonic() - accepted
            if age >= self.timeout:
                return Outcome(job.index, TIMEOUT, error="no result %d s after acceptance (last state: %s)"
                               % (self.timeout, status.state.value))
            try:
                self._sleep(min(self.schedule.delay(age), self.timeout - age))
            except _Cancelled:
                return Outcome(job.index, CANCELLED, error="cancelled while the job was %s" % status.state.value)
            try:
                status = self.client.poll(status.status_location)
                failures = 0
            except TransientError as error:
                failures += 1
                if failures > self.retry.poll_failures:
                    return Outcome(job.index, FAILED, error="gave up polling after %d failures: %s"
                                   % (failures, error))
            except WpsException as error:
                return Outcome(job.index, FAILED, error=str(error))
        if status.state is JobState.SUCCEEDED:
            return Outcome(job.index, SUCCEEDED, url=status.url)
        return Outcome(job.index, FAILED, error=status.error or "the server reported failure without a reason")

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(max(0.0, seconds)):
            raise _Cancelled()


class _Cancelled(Exception):
    """Raised inside a worker when the run is cancelled during a wait."""
