"""What a run is given and hands back: jobs in, outcomes out, and how hard to retry on the way.

Plain data, so the algorithm can stream features in and out of the pool without QGIS here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .job_times import Workload


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


@dataclass
class JobCounts:
    """What one job cost beyond its submission and polls: the run's tally adds them up."""

    retries: int = 0
    possible_duplicates: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    """Transient faults are retried with capped exponential backoff and full jitter, at least
    the server's Retry-After apart, for as long as the job's Deadline allows: never a fixed
    number of times, which a burst of faults could use up while the run goes on. A host that
    cannot be reached at all is waited out until it has been silent ``outage_seconds``; then
    the run stops, and a rerun with the journal resumes it."""

    base: float = 0.5
    cap: float = 30.0
    outage_seconds: float = 600.0

    def delay(self, failures: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after ``failures`` failed tries in a row."""
        backoff = rng.uniform(0, min(self.cap, self.base * 2 ** min(failures, 16)))
        return backoff if retry_after is None else max(backoff, retry_after)


class Deadline:
    """``seconds`` from ``start`` for a job to get through transient faults. Time its host cannot
    be reached at all does not count: the outage watch decides about that, for the whole run."""

    def __init__(self, seconds: float, start: float):
        self.seconds = seconds
        self._end = start + seconds
        self._unreachable_since: float | None = None

    def unreachable(self, now: float) -> None:
        if self._unreachable_since is None:
            self._unreachable_since = now

    def reached(self, now: float) -> None:
        """The host answered (with anything): the time it could not be reached is added on."""
        if self._unreachable_since is not None:
            self._end += now - self._unreachable_since
            self._unreachable_since = None

    def left(self, now: float) -> float:
        """Seconds left (infinite while the host cannot be reached)."""
        return float("inf") if self._unreachable_since is not None else self._end - now
