"""When to ask a job's status next: sparse while it cannot be done, dense around when it ends.

No QGIS, no HTTP. Never more often than once a second after a job's first ``young`` seconds.

Without a prediction (a cold start), while no job of the run has finished, the jobs in
flight share one grid of poll times counted from the first one's acceptance, and take its
points in turn. Its gaps grow with the age as one job's backoff would (``fraction`` of it,
at least ``first`` / jobs) until they reach ``cap`` / jobs: young, the run looks about as
often as one job alone would; old, each job asks every ``cap`` seconds, as a lone job
does, and the run every ``cap`` / jobs. The gaps are even, not jittered, because a job
that asked just before another is seen finished may not ask again within the second.
A job alone backs off with its age instead (within ``first`` and ``cap``, each delay drawn
within ±``jitter``). Once jobs have finished, until the model predicts, a job sleeps until
just before the run's median duration, in sleeps of at most half of it, then polls in
steps of ``step`` of it.

With a prediction from the job-time model (``Prediction``), a job sleeps until its first
look, in sleeps of at most max(``cap``, half the time of that look or of ``likely``) so an
unusually quick job is not missed by much; polls densely (a third of the ``early``-``late``
window) until ``late``; and, overrunning, backs off with its age past ``late``. The first
look is at ``early``, except for a job past its first ``young`` seconds by then once jobs
like it (seen finished by its ``late`` time, and no quicker than a window before its
``early`` one) have ended lately (within ``late`` of the latest finish): they ran at least
as long as the latest of their last polls that found them unfinished and at most as long
as the quickest of them was seen finished at, so it looks halfway between, and, dense,
does not step past that quickest time, then asks each second for ``SETTLE`` seconds.
Where the two cross (their times vary: no one time fits them all), the model's window
alone decides. Jobs sent together poll together there,
at most once a second each, so this evidence from the wave before, rather than more
polls, is what brings a wave's end in; the model's window, learned from polls seconds
apart, is wider.

Whatever the schedule, a job seen finished tells the others (``Watch``): one that has
been running at least as long as that job took (and, with a prediction, that job took no
longer than its ``early`` time and is like it) asks at once, as soon as the once-a-second
rule allows.
"""

from __future__ import annotations

import math
import random
import statistics
import threading
from collections import deque

from .job_times import JobTimes, Prediction, Workload

SETTLE = 2.0  # seconds past the quickest time its like was seen done that a job asks each second


def _alike(expected: Prediction, seconds: float) -> bool:
    """Could a job ``expected`` to take that long have taken ``seconds``? No quicker than its
    ``early`` time by more than its window (or a second)."""
    return seconds >= expected.early - max(1.0, expected.late - expected.early)


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
        self._phase = self._rng.uniform(1 - jitter, 1 + jitter)  # the shared grid's first point, in first gaps
        self._durations: deque = deque(maxlen=window)
        self._finishes: deque = deque(maxlen=window)  # (when, last seen unfinished at, seen finished at)
        self._together: dict[Watch, None] = {}  # cold jobs in flight, as they came (a dict: ordered)
        self._lock = threading.Lock()

    def typical_duration(self) -> float | None:
        with self._lock:
            return statistics.median(self._durations) if self._durations else None

    def finished(self, seconds: float, running_at: float, when: float | None = None) -> None:
        """Learn from a job seen finished at ``seconds`` and last seen running at ``running_at``
        (the same order and names as ``JobTimes.observe``), at clock time ``when``."""
        with self._lock:
            self._durations.append((running_at + seconds) / 2)
            if when is not None:
                self._finishes.append((when, running_at, seconds))

    def finished_since(self, when: float) -> list[tuple[float, float]]:
        """(clock time, seconds) of the jobs seen finished after clock time ``when``."""
        with self._lock:
            return [(at, seconds) for at, _, seconds in self._finishes if at > when]

    def delay(self, age: float, expected: Prediction | None = None) -> float:
        """Seconds to wait before asking again about a job ``age`` seconds old."""
        return self._politely(age, self._expected_delay(age, expected) if expected else self._learning_delay(age))

    def cold_delay(self, watch: Watch, age: float) -> float:
        """``delay`` for a job the model knows nothing of: on the grid it shares with the
        others in flight while none of the run's jobs has finished."""
        with self._lock:
            self._together[watch] = None
            together = list(self._together)
            shared = len(together) > 1 and not self._durations
        if not shared:
            return self.delay(age)
        start = min(other.accepted for other in together)
        due = start + self._shared_age(watch.unfinished_at - start, together.index(watch), len(together))
        return self._politely(age, due - watch.unfinished_at)

    def leave(self, watch: Watch) -> None:
        """The job no longer takes its turn on the shared grid (finished, held Accepted, or its
        following ended any other way: the Follower leaves for it)."""
        with self._lock:
            self._together.pop(watch, None)

    def at_once(self, age: float) -> float:
        return self._politely(age, 0.0)

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

    def _shared_age(self, after: float, turn: int, jobs: int) -> float:
        """The first point of the shared grid past ``after`` (seconds from its start) that is
        turn ``turn`` of ``jobs``: gaps growing as one job's backoff does, from ``first`` / jobs,
        up to ``cap`` / jobs."""
        widest, tiny = self.cap / jobs, 1e-6
        at, k = self.first / jobs * self._phase, 0
        while self.fraction * at < widest:  # young: the gaps grow with the age
            if k % jobs == turn and at > after + tiny:
                return at
            at, k = at + (max(self.first / jobs, self.fraction * at) or widest), k + 1
        ahead = max(0, math.floor((after + tiny - at) / widest) + 1)  # even gaps from here: the first past...
        ahead += (turn - k - ahead) % jobs  # ...that is this job's turn
        return at + ahead * widest

    def _expected_delay(self, age: float, expected: Prediction) -> float:
        dense = max(self.dense_finest, (expected.late - expected.early) / 3)
        look, done_by = self._first_look(expected)
        if age < look - self.dense_finest:  # (nearer than that: in the window already)
            return min(look - age, max(self.cap, 0.5 * max(look, expected.likely)))
        if done_by is not None and age < min(expected.late, done_by + SETTLE):
            # not past when the jobs like it were seen done; then each second, a few times
            return min(dense, done_by - age) if age < done_by - self.dense_finest else min(dense, 1.0)
        if age < expected.late:
            return dense
        return min(max(self.cap, 0.5 * expected.likely), max(dense, (age - expected.late) * self.fraction))

    def _first_look(self, expected: Prediction) -> tuple[float, float | None]:
        """Where the window's polls begin, and the quickest time a job like it was seen done
        in (None: no such job, the job is young enough to poll as densely as it likes, or the jobs
        seen lately took times no one time fits: then the model's window alone)."""
        if expected.early < self.young:
            return expected.early, None
        with self._lock:
            latest = max((when for when, _, _ in self._finishes), default=0.0)
            seen = [(low, high) for when, low, high in self._finishes  # the wave before: seen done lately
                    if when >= latest - expected.late and _alike(expected, high) and high <= expected.late]
        if not seen:
            return expected.early, None
        running, done = max(low for low, _ in seen), min(high for _, high in seen)
        if running >= done:  # no one time between every one's last poll running and first done
            return expected.early, None
        return max(expected.early, (running + done) / 2), done

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
        if self._one_like_it_finished(expected):
            return self.polling.at_once(self.unfinished_at - self.started)
        if expected:
            return self.polling.delay(self.unfinished_at - self.started, expected)
        return self.polling.cold_delay(self, self.unfinished_at - self.accepted)

    def _one_like_it_finished(self, expected: Prediction | None) -> bool:
        """A job seen finished since this one's last poll had run no longer than this one had by
        then (and, by this one's prediction, no longer than its early time, nor much less): this one
        may be done too. (Later than early the window's polls look anyway: waking each job at every
        finish would multiply the requests where times vary.)"""
        return any(seconds <= when - self.started and (expected is None or _alike(expected, seconds)
                                                       and seconds <= expected.early)
                   for when, seconds in self.polling.finished_since(self.unfinished_at))

    def still_accepted(self, now: float) -> None:
        self.started = self.running_from = self.unfinished_at = now
        self.queued = True
        self.polling.leave(self)

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
        self.polling.leave(self)
        self.polling.finished(seconds, at_least, now)
        self.job_times.observe(self.workload, seconds, at_least)
