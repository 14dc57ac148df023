"""Runs of jobs of known durations on a virtual clock, polled as the dispatcher polls them.

No sleeps, no threads: each worker's job is followed by the same ``Watch`` the
dispatcher uses, and events are taken in time order, so jobs in flight together
share the run's ``Polling`` and model as they do in a real run. As in the
dispatcher, a job seen finished makes every sleeping job work out its next poll
again.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from itertools import islice

from wit_dispatcher.wit_provider.dispatch.job_times import JobTimes, Workload
from wit_dispatcher.wit_provider.dispatch.polling import Polling, Watch


@dataclass
class SimulatedRun:
    makespan: float = 0.0
    polls: int = 0
    late: list[float] = field(default_factory=list)  # per job: seen finished this long after it ended


def ideal_makespan(durations: list[float], concurrency: int) -> float:
    """Exact job times in input order on ``concurrency`` workers, nothing lost between."""
    ends = [0.0] * concurrency
    for seconds in durations:
        heapq.heappush(ends, heapq.heappop(ends) + seconds)
    return max(ends)


def simulate(durations: list[float], concurrency: int, job_times: JobTimes, polling: Polling | None = None,
             workloads: list[Workload | None] | None = None) -> SimulatedRun:
    """Jobs in input order on ``concurrency`` workers: a worker takes the next job the moment
    its job is seen finished (requests take no time here)."""
    polling = polling or Polling(seed=1)
    workloads = workloads or [None] * len(durations)
    run = SimulatedRun()
    events: list[tuple[float, int]] = []  # (when, job): a poll due, unless rescheduled since
    due: dict[int, float] = {}  # job in flight -> when its next poll is due
    watches: dict[int, Watch] = {}
    todo = iter(range(len(durations)))

    def schedule(job: int, now: float) -> None:
        due[job] = max(now, watches[job].unfinished_at + watches[job].delay())
        heapq.heappush(events, (due[job], job))

    def start(job: int, now: float) -> None:
        watches[job] = Watch(polling, job_times, workloads[job], now)
        schedule(job, now)

    for job in islice(todo, concurrency):  # (not zip(todo, range(...)): it would take a job from todo and drop it)
        start(job, 0.0)
    while events:
        now, job = heapq.heappop(events)
        if due.get(job) != now:
            continue
        run.polls += 1
        watch = watches[job]
        ends = watch.accepted + durations[job]
        if now < ends:
            watch.running(now)
            schedule(job, now)
            continue
        watch.finished(now)
        run.late.append(now - ends)
        run.makespan = max(run.makespan, now)
        del due[job]
        for other in list(due):
            schedule(other, now)
        following = next(todo, None)
        if following is not None:
            start(following, now)
    return run
