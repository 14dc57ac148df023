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
    """How transient faults are retried: with capped exponential backoff and full jitter (or
    the server's Retry-After), for as long as the job's deadline allows, never a fixed number
    of times, since a burst of faults must not be the end of a job while the run goes on.

    An Execute is retried until the job's timeout has passed since its first try, a status
    poll until the job's timeout has passed since its acceptance. While a host cannot be
    reached at all (no connection: nothing was sent), retries go on until that host has been
    silent for ``outage_seconds``; then the run stops, and a rerun with the journal resumes
    it. The WPS and the status host are watched apart, so polls that still work do not hide
    a WPS that is down.
    """

    base: float = 0.5
    cap: float = 30.0
    outage_seconds: float = 600.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2 ** attempt))
