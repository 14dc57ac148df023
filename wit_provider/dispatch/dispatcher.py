"""A bounded pool of WPS jobs: submit, poll to the end, hand back outcomes in input order.

No QGIS here: jobs arrive as plain data (an index, a job key and an Execute document)
from a lazy iterator, and outcomes leave the same way, so the algorithm can stream
features in and out without holding the layer in memory. At most ``max_concurrent``
jobs are in flight (submitted and not finished) at any moment: each worker thread
holds one job at a time. With a journal, every state change is recorded as it happens
and a rerun reuses, resumes or submits each job as its record says.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Callable

from ..common.job_states import ACCEPTED, CANCELLED, FAILED, OUTCOMES, SKIPPED, SUCCEEDED, TIMEOUT
from .client import CredentialsRefused, TransientError
from .forecast import QUEUED_SECONDS, Forecast
from .job_times import JobTimes, Workload
from .journal import Journal, JournalError, Record
from .polling import Polling, Watch
from .wps import JobStatus, WpsException

STATUSES = OUTCOMES

_TICK = 0.2  # how often the dispatching thread looks at cancel and progress, in seconds
_DRAIN_SECONDS = 1.5  # how long a stopping run waits for requests already on the wire
_FORECAST_SECONDS = 1.0  # how often the time left is worked out again


@dataclass(frozen=True)
class Job:
    """One job: the Execute document to send, or the reason it is skipped.

    ``index`` is its position in the run (0, 1, 2, ...); ``label`` is the caller's, handed
    back on its Outcome (e.g. which polygon and which time increment it is); ``workload``
    is what its time is predicted from.
    """

    index: int
    execute: bytes | None = None
    skip_reason: str = ""
    key: str = ""
    label: object = None
    workload: Workload | None = None


@dataclass(frozen=True)
class Outcome:
    index: int
    status: str
    url: str = ""
    error: str = ""
    reused: bool = False  # settled by the journal of an earlier run, nothing sent
    label: object = None


@dataclass(frozen=True)
class RetryPolicy:
    """How transient faults are retried.

    Each request is tried up to ``attempts`` times with capped exponential backoff and
    full jitter (or the server's Retry-After). A job's status may fail to read
    ``poll_failures`` times in a row before the job is given up. While a host cannot
    be reached at all (no connection: nothing was sent), retries go on past
    ``attempts`` until that host has been silent for ``outage_seconds``; then the run
    stops, and a rerun with the journal resumes it. The WPS and the status host are
    watched apart, so polls that still work do not hide a WPS that is down.
    """

    attempts: int = 8
    base: float = 0.5
    cap: float = 30.0
    poll_failures: int = 10
    outage_seconds: float = 600.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2 ** attempt))


@dataclass
class Tally:
    """Counts of the run so far, for the progress bar, the monitor line and the summary.

    ``seconds_left`` is None while nothing is known of job times; ``eta_errors`` holds,
    once the run is over, how far off the time left was at 10, 50 and 90 % of its jobs.
    """

    running: int = 0
    reused: int = 0
    retries: int = 0
    possible_duplicates: int = 0
    counts: dict = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    seconds_left: float | None = None
    server_paced: bool = False
    queued: int = 0
    refused: int = 0
    eta_errors: dict = field(default_factory=dict)

    @property
    def finished(self) -> int:
        return sum(self.counts.values())

    def monitor_line(self) -> str:
        extra = ", ".join("%d %s" % (self.counts[s], s) for s in (SKIPPED, TIMEOUT, CANCELLED) if self.counts[s])
        line = "%d running, %d completed, %d failed" % (self.running, self.counts[SUCCEEDED], self.counts[FAILED])
        return line + (", " + extra if extra else "")


@dataclass(frozen=True)
class _Finished:
    key: str
    outcome: Outcome
    retries: int
    possible_duplicates: int


class _Cancelled(Exception):
    """Raised inside a worker when the run stops during a wait."""


class Dispatcher:
    """Runs jobs through a client with ``submit(bytes)`` and ``poll(location)`` methods.

    One Dispatcher serves one run: create a new one for every run. ``job_times`` is the
    model of this server's job times (learned further by the run); ``total``, the number
    of jobs the source will give, if known, and ``sample``, workloads drawn from all of
    them, for the time left.
    """

    def __init__(self, client, max_concurrent: int, timeout: float,
                 polling: Polling | None = None, retry: RetryPolicy = RetryPolicy(),
                 journal: Journal | None = None, retry_failed: bool = False, seed: int | None = None,
                 read_ahead: int = 10_000, job_times: JobTimes | None = None, total: int | None = None,
                 sample: list[Workload] | None = None):
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.client = client
        self.max_concurrent = max_concurrent
        self.timeout = timeout
        self.polling = polling or Polling(seed=seed)
        self.job_times = job_times or JobTimes()
        self.forecast = Forecast(self.job_times, self.polling, max_concurrent, total, sample)
        self.retry = retry
        self.journal = journal
        self.retry_failed = retry_failed
        self.read_ahead = read_ahead  # finished outcomes held back for input order, at most
        self.tally = Tally()
        self.stopped_because = ""
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._wake = threading.Condition()  # sleeping workers hear of a stop or of a job seen finished
        self._news = 0  # jobs seen finished so far: each tells the others' watches something new
        now = time.monotonic()
        self._last_reply = {"WPS": now, "status host": now}  # when each host last answered

    def run(self, jobs: Iterable[Job], is_cancelled: Callable[[], bool] = lambda: False,
            on_progress: Callable[[Tally], None] = lambda tally: None) -> Iterator[Outcome]:
        """Yield one Outcome per job read, in input order.

        If the run is cancelled (or the server stays unreachable too long, see
        ``stopped_because``), in-flight jobs end ``cancelled`` and the iterator stops
        after the last job it read: jobs it never read are the caller's to mark.
        """
        tally = self.tally
        todo: queue.Queue = queue.Queue()
        done: queue.Queue = queue.Queue()
        workers = [threading.Thread(target=self._work, args=(todo, done), daemon=True, name="wit-worker-%d" % i)
                   for i in range(self.max_concurrent)]
        for worker in workers:
            worker.start()
        ready: dict[int, Outcome] = {}
        waiting: dict[str, list[int]] = {}  # job key in flight -> the indices sharing its result
        labels: dict[int, object] = {}  # labels of the jobs read and not settled yet
        read = emitted = 0
        source = iter(jobs)
        exhausted = False
        forecast_at = float("-inf")

        def settle(index: int, outcome: Outcome) -> None:
            ready[index] = replace(outcome, index=index, label=labels.pop(index, None))
            tally.counts[outcome.status] += 1

        try:
            while True:
                if is_cancelled():
                    self._stop_now()
                if self._stop.is_set():
                    break
                while not exhausted and tally.running < self.max_concurrent and len(ready) < self.read_ahead:
                    job = next(source, None)
                    if job is None:
                        exhausted = True
                        break
                    read += 1
                    labels[job.index] = job.label
                    if job.skip_reason or job.execute is None:
                        self.forecast.read(False, job.workload)
                        settle(job.index, Outcome(job.index, SKIPPED, error=job.skip_reason))
                    elif job.key and job.key in waiting:
                        self.forecast.read(False, job.workload)
                        waiting[job.key].append(job.index)
                    else:
                        journal = self._journal_of(job)
                        try:
                            record = journal.lookup(job.key) if journal else None
                        except JournalError as error:
                            self._halt(str(error))
                            break
                        reused = self._reusable(job.index, record)
                        self.forecast.read(reused is None, job.workload)
                        if reused is not None:
                            tally.reused += 1
                            settle(job.index, reused)
                            continue
                        if job.key:
                            waiting[job.key] = []
                        todo.put((job, record))
                        tally.running += 1
                while emitted in ready:
                    yield ready.pop(emitted)
                    emitted += 1
                if exhausted and tally.running == 0:
                    break
                try:
                    finished = done.get(timeout=_TICK)
                except queue.Empty:
                    finished = None
                if finished is not None:
                    tally.running -= 1
                    tally.retries += finished.retries
                    tally.possible_duplicates += finished.possible_duplicates
                    settle(finished.outcome.index, finished.outcome)
                    for index in waiting.pop(finished.key, []):
                        settle(index, finished.outcome)
                    self.forecast.passed(time.monotonic(), tally.finished)
                    if exhausted and tally.running == 0:  # the caller may stop reading at its last outcome
                        self._update_forecast(time.monotonic())
                        tally.seconds_left = 0.0
                        tally.eta_errors = self.forecast.errors(time.monotonic())
                now = time.monotonic()
                if now - forecast_at >= _FORECAST_SECONDS:
                    forecast_at = now
                    self._update_forecast(now)
                on_progress(tally)
            reason = self.stopped_because or "cancelled before the job finished"
            for index in range(emitted, read):
                yield ready.get(index) or Outcome(index, CANCELLED, error=reason, label=labels.get(index))
        finally:
            self._stop_now()
            for _ in workers:
                todo.put(None)
            # A worker inside an HTTP request gets a moment to record its reply, so an
            # Execute the server accepted just now is journaled and not sent again later.
            deadline = time.monotonic() + _DRAIN_SECONDS
            for worker in workers:
                worker.join(max(0.0, deadline - time.monotonic()))

    def _update_forecast(self, now: float) -> None:
        tally, forecast = self.tally, self.forecast
        tally.seconds_left = forecast.seconds_left(now)
        tally.server_paced = forecast.server_paced(now)
        tally.queued, tally.refused = forecast.queued, forecast.refused

    def _journal_of(self, job: Job) -> Journal | None:
        """The journal, for jobs that have a key to record under."""
        return self.journal if job.key else None

    def _reusable(self, index: int, record: Record | None) -> Outcome | None:
        """The outcome a journal record already settles, or None if the job must run."""
        if record is None:
            return None
        if record.state == SUCCEEDED:
            return Outcome(index, SUCCEEDED, url=record.url or "", reused=True)
        if record.state == FAILED and not self.retry_failed:
            return Outcome(index, FAILED, error=record.error or "", reused=True)
        return None

    def _work(self, todo: queue.Queue, done: queue.Queue) -> None:
        while True:
            item = todo.get()
            if item is None:
                return
            job, record = item
            counters = {"retries": 0, "possible_duplicates": 0}
            self.forecast.started(job.index, job.workload)
            outcome = self._outcome(job, record, counters)
            self.forecast.finished(job.index, time.monotonic())
            done.put(_Finished(job.key, outcome, counters["retries"], counters["possible_duplicates"]))

    def _outcome(self, job: Job, record: Record | None, counters: dict) -> Outcome:
        """Run one job to its end and journal it. Never raises: every job handed out is reported."""
        if self._stop.is_set():
            return Outcome(job.index, CANCELLED, error="cancelled before the job was sent")
        try:
            outcome = self._run_job(job, record, counters)
            journal = self._journal_of(job)
            if journal and outcome.status in (SUCCEEDED, FAILED, TIMEOUT):
                journal.record_finished(job.key, outcome.status, outcome.url, outcome.error)
            return outcome
        except JournalError as error:  # without a journal, nothing done from here on would be kept
            self._halt(str(error))
            return Outcome(job.index, CANCELLED, error=str(error))
        except Exception as error:  # a bug must not silently lose a feature
            return Outcome(job.index, FAILED, error="internal error: %r" % (error,))

    def _run_job(self, job: Job, record: Record | None, counters: dict) -> Outcome:
        resumable = record is not None and record.status_location and (
            record.state == ACCEPTED or (record.state == TIMEOUT and not self.retry_failed))
        if resumable:
            return self._follow(job, JobStatus(ACCEPTED, record.status_location), counters, resumed=True)
        journal = self._journal_of(job)
        if journal and journal.record_submission(job.key):
            counters["possible_duplicates"] += 1  # an earlier run died with its POST unanswered
        try:
            status = self._submit(job, counters)
        except CredentialsRefused as error:  # every other submission would be refused too
            self._halt(str(error))
            if journal:
                journal.record_finished(job.key, CANCELLED, error=str(error))
            return Outcome(job.index, CANCELLED, error=str(error))
        except WpsException as error:
            return Outcome(job.index, FAILED, error=str(error))
        except TransientError as error:
            return Outcome(job.index, FAILED, error="gave up submitting: %s" % error)
        except _Cancelled:
            return Outcome(job.index, CANCELLED, error=self.stopped_because or "cancelled before the job was accepted")
        if journal and status.status_location:
            journal.record_accepted(job.key, status.status_location)
        return self._follow(job, status, counters)

    def _submit(self, job: Job, counters: dict) -> JobStatus:
        attempt = 0
        while True:
            try:
                status = self.client.submit(job.execute)
                self._heard_from("WPS")
                return status
            except (WpsException, CredentialsRefused):
                self._heard_from("WPS")
                raise
            except TransientError as error:
                if not error.unreachable:
                    self._heard_from("WPS")
                    if error.unsent:
                        self.forecast.refused_job(time.monotonic())
                if not error.unsent:
                    # The server may have accepted it: asking again may make a second job.
                    counters["possible_duplicates"] += 1
                    journal = self._journal_of(job)
                    if journal:
                        journal.record_possible_duplicate(job.key)
                attempt += 1
                self._wait_to_retry(error, attempt, counters, "WPS")

    def _wait_to_retry(self, error: TransientError, attempt: int, counters: dict, host: str) -> None:
        """Sleep before the next try, or raise if no more tries are due.

        Past ``attempts``, only a ``host`` that cannot be reached (an outage: nothing
        was sent) is waited out, and only until ``outage_seconds``: then the run stops.
        """
        if attempt >= self.retry.attempts:
            if not error.unreachable:
                raise error
            self._check_outage(host)
        counters["retries"] += 1
        self._sleep(error.retry_after if error.retry_after is not None
                    else self.retry.backoff(min(attempt, 16), self._rng))

    def _follow(self, job: Job, status: JobStatus, counters: dict, resumed: bool = False) -> Outcome:
        """Poll the job to its end: by its predicted time if the model has one, else by the adaptive schedule.

        A job still Accepted ``QUEUED_SECONDS`` after it was sent is counted as queued. A
        resumed job's time is not learned: its clock started when this run took it up.
        """
        watch = Watch(self.polling, self.job_times, job.workload, time.monotonic())
        self.forecast.running(job.index, watch.started)
        queued = False
        failures = 0
        try:
            while not status.finished:
                now = time.monotonic()
                age = now - watch.accepted
                if age >= self.timeout:
                    return Outcome(job.index, TIMEOUT, error="no result %d s after acceptance (last state: %s)"
                                   % (self.timeout, status.state))
                backoff = self.retry.backoff(min(failures, 16), self._rng) if failures else 0.0
                self._sleep_to_poll(watch, now + backoff, watch.accepted + self.timeout)
                try:
                    status = self.client.poll(status.status_location)
                    failures = 0
                    self._heard_from("status host")
                    now = time.monotonic()
                    if status.state == SUCCEEDED and not resumed:
                        watch.finished(now)
                        with self._wake:
                            self._news += 1
                            self._wake.notify_all()
                    elif status.state == ACCEPTED:
                        watch.still_accepted(now)
                        self.forecast.running(job.index, now)
                        if not queued and now - watch.accepted >= QUEUED_SECONDS:
                            queued = True
                            self.forecast.queued_job(now)
                    elif not status.finished:
                        watch.running(now)
                except TransientError as error:
                    failures += 1
                    counters["retries"] += 1
                    if error.unreachable:
                        self._check_outage("status host")
                    else:
                        self._heard_from("status host")
                        if failures > self.retry.poll_failures:
                            return Outcome(job.index, FAILED, error="gave up polling after %d failures in a row: %s"
                                           % (failures, error))
                except WpsException as error:
                    return Outcome(job.index, FAILED, error=str(error))
        except _Cancelled:
            return Outcome(job.index, CANCELLED, error=self.stopped_because or
                           "cancelled while the job was %s" % status.state)
        if status.state == SUCCEEDED:
            return Outcome(job.index, SUCCEEDED, url=status.url)
        return Outcome(job.index, FAILED, error=status.error or "the server reported failure without a reason")

    def _heard_from(self, host: str) -> None:
        self._last_reply[host] = time.monotonic()

    def _check_outage(self, host: str) -> None:
        silent = time.monotonic() - self._last_reply[host]
        if silent >= self.retry.outage_seconds:
            self._halt("stopped: the %s gave no reply for %d s; run again with the same journal to resume"
                       % ("WPS server" if host == "WPS" else "server of the status documents", silent))
            raise _Cancelled()

    def _halt(self, reason: str) -> None:
        """Stop the whole run for ``reason`` (the first one given is kept)."""
        if not self.stopped_because:
            self.stopped_because = reason
        self._stop_now()

    def _stop_now(self) -> None:
        with self._wake:
            self._stop.set()
            self._wake.notify_all()

    def _sleep(self, seconds: float) -> None:
        self._wait_until(time.monotonic() + seconds)

    def _sleep_to_poll(self, watch: Watch, earliest: float, latest: float) -> None:
        """Sleep until the job's next poll is due, not before ``earliest`` nor after ``latest``.

        When is worked out again whenever another job of the run is seen finished: jobs
        sent together end together, and the first of them seen finished tells the others.
        """
        while True:
            with self._wake:
                news = self._news
            due = min(max(watch.unfinished_at + watch.delay(), earliest), latest)  # outside the lock: it predicts
            if self._wait_until(due, news):
                return

    def _wait_until(self, due: float, news: int | None = None) -> bool:
        """Wait until ``due`` (True); with ``news``, only until a job is seen finished after it (False).

        Raises _Cancelled as soon as the run stops."""
        with self._wake:
            while not self._stop.is_set() and news in (None, self._news) and due > time.monotonic():
                self._wake.wait(max(0.0, due - time.monotonic()))
            if self._stop.is_set():
                raise _Cancelled()
            return news in (None, self._news)
