"""When to ask a job's status next: sparse while it cannot be done, dense around when it ends.

No QGIS, no HTTP. With a prediction from the job-time model (``Prediction``), a job
sleeps until its ``early`` time, in sleeps of at most half its ``likely`` time so an
unusually quick job is not missed by much; polls densely (a third of the
``early``-``late`` window) until ``late``; and, overrunning, backs off with its age
past ``late``. Without one (a cold start), today's schedule: before any job of the
run has finished, the delay grows with the job's age (a fraction of it, between
``first`` and ``cap``); once jobs have finished, a job sleeps until just before the
run's median duration, in sleeps of at most half of it, then polls in steps of a
twentieth of it. Never more often than once a second after a job's first ``young``
seconds.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque

from .job_times import Prediction


class Polling:
    """Shared by the workers of one run; thread-safe."""

    def __init__(self, first: float = 0.3, fraction: float = 0.5, cap: float = 8.0, young: float = 10.0,
                 lead: float = 0.9, step: float = 0.05, finest: float = 0.1, window: int = 50,
                 dense_finest: float = 0.02):
        self.first = first
        self.fraction = fraction
        self.cap = cap
        self.young = young
        self.lead = lead
        self.step = step
        self.finest = finest
        self.dense_finest = dense_finest
        self._durations: deque = deque(maxlen=window)
        self._lock = threading.Lock()

    def typical_duration(self) -> float | None:
        with self._lock:
            return statistics.median(self._durations) if self._durations else None

    def finished(self, last_running_age: float, finished_age: float) -> None:
        """Learn from a job seen running at one age and finished at the next poll."""
        with self._lock:
            self._durations.append((last_running_age + finished_age) / 2)

    def delay(self, age: float, expected: Prediction | None = None) -> float:
        """Seconds to wait before asking again about a job ``age`` seconds old."""
        delay = self._expected_delay(age, expected) if expected else self._learning_delay(age)
        if age >= self.young:
            delay = max(delay, 1.0)
        return delay

    def _expected_delay(self, age: float, expected: Prediction) -> float:
        dense = max(self.dense_finest, (expected.late - expected.early) / 3)
        if age < expected.early:
            return min(expected.early - age, max(self.cap, 0.5 * expected.likely))
        if age < expected.late:
            return dense
        return min(max(self.cap, 0.5 * expected.likely), max(dense, (age - expected.late) * self.fraction))

    def _learning_delay(self, age: float) -> float:
        typical = self.typical_duration()
        if typical is None:
            return min(self.cap, max(self.first, age * self.fraction))
        if age < self.lead * typical:
            return min(self.lead * typical - age, max(self.cap, 0.5 * typical))
        return min(self.cap, max(self.step * typical, self.finest, (age - typical) * self.fraction))
