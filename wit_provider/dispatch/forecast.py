"""How long the rest of a run will take, and whether the server is what sets its pace.

No QGIS. Jobs in flight have a prediction and an age; jobs not read yet are
counted, and costed at the mean prediction of a sample: one the caller drew from
the whole input (the layer is streamed, never held, and may be sorted by size),
else a running sample of the jobs started so far. A sample as large as the input
is the input: each job read is taken out of it, so the jobs not read are costed
exactly, not at the mean of all. The jobs not started go, one
by one, to whichever of the ``concurrency`` workers frees first: the last ones
decide the end, which a plain (work left) / concurrency would miss. When the
server queues jobs (a job still Accepted long after it was sent, or ServerBusy
refusing Executes), its throughput decides the end instead: jobs left / jobs
finished per second lately.
"""

from __future__ import annotations

import heapq
import random
import threading
from collections import Counter, deque

from .job_times import JobTimes, Prediction, Workload
from .polling import Polling

QUEUED_SECONDS = 10.0  # a job still Accepted this long after it was sent waits in the server's queue
PACE_SECONDS = 60.0  # the server sets the pace while it queued or refused a job this recently
MILESTONES = (0.1, 0.5, 0.9)
LEAST_LEFT = 0.02  # a milestone passed in the run's last 2 % of time has no ETA error worth saying
TAIL_ROUNDS = 4  # the last jobs, this many per worker, are placed one by one


def seconds_left_text(seconds: float) -> str:
    """'about 40 s left', 'about 12 min left', 'about 3.5 h left', 'about 2.1 days left'."""
    if seconds < 90:
        return "about %d s left" % max(1, round(seconds))
    if seconds < 90 * 60:
        return "about %d min left" % round(seconds / 60)
    if seconds < 36 * 3600:
        return "about %.1f h left" % (seconds / 3600)
    return "about %.1f days left" % (seconds / 86400)


class Forecast:
    """Shared by the dispatching thread and the workers of one run; thread-safe."""

    def __init__(self, job_times: JobTimes, polling: Polling, concurrency: int, total: int | None = None,
                 sample: list[Workload] | None = None, sample_size: int = 200, seed: int = 0):
        self.job_times = job_times
        self.polling = polling
        self.concurrency = concurrency
        self.total = total
        self.queued = 0  # jobs seen waiting in the server's queue
        self.refused = 0  # Executes the server refused for now (ServerBusy, 503...)
        self._read = self._ran = 0
        self._given = sample is not None
        self._sample: list[Workload | None] = list(sample or [])
        whole = sample is not None and total is not None and len(sample) >= total
        self._unread: Counter | None = Counter(sample) if whole else None  # the input's jobs not read yet
        self._sample_size = sample_size
        self._seen = 0
        self._rng = random.Random(seed)
        self._in_flight: dict[int, tuple[float | None, Workload | None]] = {}  # index -> (run clock start, workload)
        self._finishes: deque = deque(maxlen=50)
        self._last_pressure = float("-inf")
        self._milestones: dict[float, tuple[float, float]] = {}  # fraction -> (when, predicted end)
        self._began: float | None = None  # when the first job's run clock started
        self._lock = threading.Lock()

    def expected(self, workload: Workload | None) -> Prediction | None:
        """The model's prediction, or while it knows nothing, the run's own median so far."""
        prediction = self.job_times.predict(workload)
        if prediction is None:
            typical = self.polling.typical_duration()
            prediction = Prediction(typical, typical, typical) if typical else None
        return prediction

    def read(self, runs: bool, workload: Workload | None = None) -> None:
        """A job was read from the source; ``runs`` unless it was skipped or reused."""
        with self._lock:
            self._read += 1
            self._ran += runs
            if self._unread is not None and self._unread[workload] > 0:
                self._unread[workload] -= 1

    def started(self, index: int, workload: Workload | None) -> None:
        """A worker took the job: it is in flight, its run clock not started yet."""
        with self._lock:
            self._in_flight[index] = (None, workload)
            if not self._given:
                self._keep_in_sample(workload)

    def _keep_in_sample(self, workload: Workload | None) -> None:
        """Reservoir sampling: every job started so far is equally likely to be in the sample."""
        self._seen += 1
        if len(self._sample) < self._sample_size:
            self._sample.append(workload)
        else:
            slot = self._rng.randrange(self._seen)
            if slot < self._sample_size:
                self._sample[slot] = workload

    def running(self, index: int, since: float) -> None:
        """The job's run clock starts (or starts again: seen waiting in the server's queue)."""
        with self._lock:
            self._in_flight[index] = (since, self._in_flight.get(index, (None, None))[1])
            if self._began is None:
                self._began = since

    def queued_job(self, now: float) -> None:
        """A job was still Accepted ``QUEUED_SECONDS`` after it was sent: it waits in the server's queue."""
        with self._lock:
            self.queued += 1
            self._last_pressure = now

    def refused_job(self, now: float) -> None:
        """The server refused an Execute for now (ServerBusy, 503...)."""
        with self._lock:
            self.refused += 1
            self._last_pressure = now

    def finished(self, index: int, now: float) -> None:
        with self._lock:
            self._in_flight.pop(index, None)
            self._finishes.append(now)

    def server_paced(self, now: float) -> bool:
        return now - self._last_pressure <= PACE_SECONDS

    def seconds_left(self, now: float) -> float | None:
        """Seconds until the last job ends, or None while nothing is known of job times."""
        with self._lock:
            in_flight = list(self._in_flight.values())
            pool = (list(self._unread.items()) if self._unread is not None
                    else [(workload, 1) for workload in self._sample])
            unread = max(0, self.total - self._read) if self.total is not None else 0
            ratio = self._ran / self._read if self._read else 1.0
            finishes = list(self._finishes)
        to_start = unread * ratio
        if self.server_paced(now) and len(finishes) >= 5 and finishes[-1] > finishes[0]:
            rate = (len(finishes) - 1) / (finishes[-1] - finishes[0])
            return (len(in_flight) + to_start) / rate
        slots = []
        for since, workload in in_flight:
            expected = self.expected(workload)
            if expected is None:
                return None
            age = now - since if since is not None else 0.0
            slots.append(expected.likely - age if age < expected.likely
                         else max(expected.late - age, 0.1 * expected.likely))
        jobs = round(to_start)
        if not jobs:
            return _last_end(slots, 0, 0.0, [], self.concurrency)
        predictions = [(self.expected(workload), count) for workload, count in pool if count]
        if not predictions or any(p is None for p, _ in predictions):
            return None
        mean = sum(p.likely * count for p, count in predictions) / sum(count for _, count in predictions)
        last = min(jobs, TAIL_ROUNDS * self.concurrency)
        if self._unread is not None:  # the jobs read last are known: place them one by one
            tail = [p.likely for p, count in predictions for _ in range(count)][-last:]
        else:
            tail = [mean] * last
        return _last_end(slots, jobs - len(tail), mean, tail, self.concurrency)

    def passed(self, now: float, finished: int) -> None:
        """Keep the predicted end when the run passes 10, 50 and 90 % of its jobs."""
        if not self.total:
            return
        for fraction in MILESTONES:
            if fraction not in self._milestones and finished >= fraction * self.total:
                left = self.seconds_left(now)
                if left is not None:
                    self._milestones[fraction] = (now, now + left)

    def errors(self, ended: float) -> dict[float, float]:
        """Per milestone: (predicted end - actual end) / time that was actually left then.

        A milestone passed in the run's last ``LEAST_LEFT`` of time is left out: with 16 jobs
        in two waves, 90 % is passed as the last wave ends, and an error relative to the
        moment left then says nothing."""
        began = ended if self._began is None else self._began
        return {fraction: (predicted - ended) / max(ended - when, 1e-9)
                for fraction, (when, predicted) in sorted(self._milestones.items())
                if ended - when >= LEAST_LEFT * (ended - began)}


def _last_end(busy: list[float], jobs: int, seconds: float, tail: list[float], workers: int) -> float:
    """When the last job ends, on ``workers`` busy for ``busy`` seconds more: ``jobs`` of
    ``seconds`` each, shared out evenly (so a run of a million jobs costs no more than one of
    a hundred), then the ``tail`` jobs in order, each taken by the worker that frees first."""
    ends = sorted(busy)[:workers] + [0.0] * max(0, workers - len(busy))
    rounds, rest = divmod(jobs, workers)
    ends = sorted(end + rounds * seconds for end in ends)
    ends = [end + seconds if i < rest else end for i, end in enumerate(ends)]
    heapq.heapify(ends)
    for time_ in tail:
        heapq.heappush(ends, heapq.heappop(ends) + time_)
    return max(ends)
