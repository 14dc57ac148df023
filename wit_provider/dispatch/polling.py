"""When to ask a job's status next: sparse while it cannot be done, dense around when it ends.

No QGIS, no HTTP. With a prediction from the job-time model (``Prediction``), a job
sleeps until its ``early`` time, in sleeps of at most max(``cap``, half its ``likely``
time) so an unusually quick job is not missed by much; polls densely (a third of the
``early``-``late`` window) until ``late``; and, overrunning, backs off with its age
past ``late``. Without one (a cold start), the adaptive schedule: before any job of the
run has finished, the delay grows with the job's age (a fraction of it, between
``first`` and ``cap``), each delay drawn within ±``jitter`` of that so jobs sent
together do not poll together (the first of them to be seen finished then tells the
others when to look); once jobs have finished, a job sleeps until just before the
run's median duration, in sleeps of at most half of it, then polls in steps of
``step`` of it. Never more often than once a second after a job's first ``young``
seconds.
"""

from __future__ import annotations

import random
import statistics
import threading
from collections import deque

from .job_times import JobTimes, Prediction, Workload


class Polling:
    """Shared by the workers of one run; thread-safe."""

    def __init__(self, first: float = 1.0, fraction: float = 0.5, cap: float = 8.0, young: float = 10.0,
                 lead: float = 0.9, step: float = 0.02, finest: float = 0.1, window: int = 50,
                 dense_finest: float = 0.02, jitter: float = 0.5, seed: int | None = None):
        self.first = first
        self.fraction = fraction
        self.cap = cap
        self.young = young
        self.lead = lead
        self.step = step
        self.finest = finest
        self.dense_finest = dense_finest
        self.jitter = jitter
        self._rng = random.Random(seed)
        self._durations: deque = deque(maxlen=window)
        self._lock = threading.Lock()

    def typical_duration(self) -> float | None:
        with self._lock:
            return statistics.median(self._durations) if self._durations else None

    def finished(self, seconds: float, running_at: float) -> None:
        """Learn from a job seen finished at ``seconds`` and last seen running at ``running_at``
        (the same order and names as ``JobTimes.observe``)."""
        with self._lock:
            self._durations.append((running_at + seconds) / 2)

    def delay(self, age: float, expected: Prediction | None = None) -> float:
        """Seconds to wait before asking again about a job ``age`` seconds old."""
        return self._politely(age, self._expected_delay(age, expected) if expected else self._learning_delay(age))

    def queued_delay(self, waited: float) -> float:
        """Seconds to wait before asking again about a job the server has kept Accepted for
        ``waited`` seconds: a queue says nothing of when the job ends, so back off with the wait."""
        return self._politely(waited, self._backoff(waited))

    def _politely(self, age: float, delay: float) -> float:
        """Never more often than once a second after a job's first ``young`` seconds."""
        return max(delay, 1.0) if age >= self.young else delay

    def _backoff(self, age: float) -> float:
        with self._lock:
            spread = self._rng.uniform(1 - self.jitter, 1 + self.jitter)
        return min(self.cap, max(self.first, age * self.fraction)) * spread

    def _expected_delay(self, age: float, expected: Prediction) -> float:
        dense = max(self.dense_finest, (expected.late - expected.early) / 3)
        if age < expected.early - self.dense_finest:  # (nearer than that: in the window already)
            return min(expected.early - age, max(self.cap, 0.5 * expected.likely))
        if age < expected.late:
            return dense
        return min(max(self.cap, 0.5 * expected.likely), max(dense, (age - expected.late) * self.fraction))

    def _learning_delay(self, age: float) -> float:
        typical = self.typical_duration()
        if typical is None:
            return self._backoff(age)
        if age < self.lead * typical - self.finest:  # (nearer than that: poll in steps already)
            return min(self.lead * typical - age, max(self.cap, 0.5 * typical))
        return min(self.cap, max(self.step * typical, self.finest, (age - typical) * self.fraction))


class Watch:
    """One job's polls from its acceptance to its end: when to ask next, and what each answer teaches.

    A job the server keeps Accepted waits in its queue and has not started: it is polled
    with a backoff from its acceptance, and its run began between the last poll that found
    it Accepted and the first that found it running, which is what its time is learned from.
    """

    def __init__(self, polling: Polling, job_times: JobTimes, workload: Workload | None, now: float):
        self.polling = polling
        self.job_times = job_times
        self.workload = workload
        self.accepted = now
        self.started = now  # the run began at or after this...
        self.running_from = now  # ...and at or before this
        self.unfinished_at = now  # when the job was last seen unfinished
        self.queued = False  # the last poll found it still Accepted

    def delay(self) -> float:
        """Seconds after ``unfinished_at`` to poll next, from what the run knows now."""
        if self.queued:
            return self.polling.queued_delay(self.unfinished_at - self.accepted)
        expected = self.job_times.predict(self.workload)
        if expected:
            return self.polling.delay(self.unfinished_at - self.started, expected)
        return self.polling.delay(self.unfinished_at - self.accepted)

    def still_accepted(self, now: float) -> None:
        self.started = self.running_from = self.unfinished_at = now
        self.queued = True

    def running(self, now: float) -> None:
        if self.queued:
            self.running_from = now
            self.queued = False
        self.unfinished_at = now

    def finished(self, now: float) -> None:
        """Teach the run and the model: the job ran at least from ``running_from`` to the last
        poll that found it unfinished, at most from ``started`` to ``now``."""
        seconds = now - self.started
        at_least = max(0.0, self.unfinished_at - self.running_from)
        self.polling.finished(seconds, at_least)
        self.job_times.observe(self.workload, seconds, at_least)
