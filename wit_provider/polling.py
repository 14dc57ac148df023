"""When to ask a job's status next: often while nothing is known, then around when jobs finish.

No QGIS, no HTTP. Before any job of the run has finished, the delay grows with the
job's age (a fraction of it, between ``first`` and ``cap``). Once jobs have finished,
the run knows how long they take: a job sleeps until just before the typical (median)
duration, in sleeps of at most half of it so an early finisher is not missed by much,
then polls in steps of a twentieth of it. Never more often than once a second after a job's first
``young`` seconds.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque


class Polling:
    """Shared by the workers of one run; thread-safe."""

    def __init__(self, first: float = 0.3, fraction: float = 0.5, cap: float = 8.0, young: float = 10.0,
                 lead: float = 0.9, step: float = 0.05, finest: float = 0.1, window: int = 50):
        self.first = first
        self.fraction = fraction
        self.cap = cap
        self.young = young
        self.lead = lead
        self.step = step
        self.finest = finest
        self._durations: deque = deque(maxlen=window)
        self._lock = threading.Lock()

    def typical_duration(self) -> float | None:
        with self._lock:
            return statistics.median(self._durations) if self._durations else None

    def finished(self, last_running_age: float, finished_age: float) -> None:
        """Learn from a job seen running at one age and finished at the next poll."""
        with self._lock:
            self._durations.append((last_running_age + finished_age) / 2)

    def delay(self, age: float) -> float:
        typical = self.typical_duration()
        if typical is None:
            delay = min(self.cap, max(self.first, age * self.fraction))
        elif age < self.lead * typical:
            delay = min(self.lead * typical - age, max(self.cap, 0.5 * typical))
        else:
            delay = min(self.cap, max(self.step * typical, self.finest, (age - typical) * self.fraction))
        if age >= self.young:
            delay = max(delay, 1.0)
        return delay
