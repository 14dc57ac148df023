"""A bounded pool of WPS jobs: submit, poll to the end, hand back outcomes in input order.

No QGIS here: jobs arrive as plain data (an index, a job key and an Execute document)
from a lazy iterator, and outcomes leave the same way, so the algorithm can stream
features in and out without holding the layer in memory. At most ``max_concurrent``
jobs are in flight (submitted and not finished) at any moment: each worker thread
holds one job at a time. With a journal, every state change is recorded as it happens
and a rerun reuses, resumes or submits each job as its record says.

The pool reads, deduplicates and orders; a JobRunner takes each job from its record to
its outcome, a Follower polls it, RunControl stops and wakes the workers, Tally counts.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Callable

from ..common.job_states import CANCELLED, SKIPPED
from .following import Follower
from .forecast import Forecast
from .job_runner import JobRunner
from .job_times import JobTimes, Workload
from .jobs import Job, JobCounts, Outcome, RetryPolicy
from .journal import Journal, JournalError
from .polling import Polling
from .run_control import OutageWatch, RunControl
from .tally import Tally

_TICK = 0.2  # how often the dispatching thread looks at cancel and progress, in seconds
_DRAIN_SECONDS = 1.5  # how long a stopping run waits for requests already on the wire
_FORECAST_SECONDS = 1.0  # how often the time left is worked out again


@dataclass(frozen=True)
class _Finished:
    key: str
    outcome: Outcome
    counts: JobCounts


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
        self.max_concurrent = max_concurrent
        self.journal = journal
        self.read_ahead = read_ahead  # finished outcomes held back for input order, at most
        self.tally = Tally()
        self.control = RunControl()
        polling = polling or Polling(seed=seed)
        self.job_times = job_times or JobTimes()  # the model this run learns into, for the caller to keep
        self.forecast = Forecast(self.job_times, polling, max_concurrent, total, sample)
        rng = random.Random(seed)
        outage = OutageWatch(self.control, retry.outage_seconds)
        follower = Follower(client, self.control, outage, retry, rng, polling, self.job_times, self.forecast,
                            timeout)
        self._runner = JobRunner(client, self.control, outage, retry, rng, self.forecast, follower, journal,
                                 retry_failed, timeout)

    @property
    def stopped_because(self) -> str:
        """Why the run stopped before its end ('' if it did not): the first reason given."""
        return self.control.stopped_because

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
                    self.control.stop()
                if self.control.stopped:
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
                        journal = self._runner.journal_of(job)
                        try:
                            record = journal.lookup(job.key) if journal else None
                        except JournalError as error:
                            self.control.halt(str(error))
                            break
                        reused = self._runner.reusable(job.index, record)
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
                    tally.retries += finished.counts.retries
                    tally.possible_duplicates += finished.counts.possible_duplicates
                    settle(finished.outcome.index, finished.outcome)
                    for index in waiting.pop(finished.key, []):
                        settle(index, finished.outcome)
                    self.forecast.passed(time.monotonic(), tally.finished)
                    if exhausted and tally.running == 0:  # the caller may stop reading at its last outcome
                        tally.forecast_from(self.forecast, time.monotonic())
                        tally.seconds_left = 0.0
                        tally.eta_errors = self.forecast.errors(time.monotonic())
                now = time.monotonic()
                if now - forecast_at >= _FORECAST_SECONDS:
                    forecast_at = now
                    tally.forecast_from(self.forecast, now)
                on_progress(tally)
            reason = self.control.stopped_because or "cancelled before the job finished"
            for index in range(emitted, read):
                yield ready.get(index) or Outcome(index, CANCELLED, error=reason, label=labels.get(index))
        finally:
            self.control.stop()
            for _ in workers:
                todo.put(None)
            # A worker inside an HTTP request gets a moment to record its reply, so an
            # Execute the server accepted just now is journaled and not sent again later.
            deadline = time.monotonic() + _DRAIN_SECONDS
            for worker in workers:
                worker.join(max(0.0, deadline - time.monotonic()))

    def _work(self, todo: queue.Queue, done: queue.Queue) -> None:
        while True:
            item = todo.get()
            if item is None:
                return
            job, record = item
            counts = JobCounts()
            self.forecast.started(job.index, job.workload)
            outcome = self._runner.outcome(job, record, counts)
            self.forecast.finished(job.index, time.monotonic())
            done.put(_Finished(job.key, outcome, counts))
