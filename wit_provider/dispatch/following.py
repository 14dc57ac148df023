"""Following one accepted job to its end: poll by its predicted time, learn from what is seen.

A job still Accepted ``QUEUED_SECONDS`` after it was sent is counted as queued (the server's
queue sets the pace). A job seen succeeded tells the model its time, and the run's other
workers that they may look again.
"""

from __future__ import annotations

import random
import time

from ..common.job_states import ACCEPTED, CANCELLED, FAILED, SUCCEEDED, TIMEOUT
from .client import TransientError
from .forecast import QUEUED_SECONDS, Forecast
from .job_times import JobTimes
from .jobs import Deadline, Job, JobCounts, Outcome, RetryPolicy
from .polling import Polling, Watch
from .run_control import Cancelled, OutageWatch, RunControl
from .wps import JobStatus, WpsException


class Follower:
    """Polls jobs through a client with ``poll(location)`` until they finish, fail or time out."""

    def __init__(self, client, control: RunControl, outage: OutageWatch, retry: RetryPolicy, rng: random.Random,
                 polling: Polling, job_times: JobTimes, forecast: Forecast, timeout: float):
        self.client = client
        self.control = control
        self.outage = outage
        self.retry = retry
        self.rng = rng
        self.polling = polling
        self.job_times = job_times
        self.forecast = forecast
        self.timeout = timeout

    def follow(self, job: Job, status: JobStatus, counts: JobCounts, resumed: bool = False) -> Outcome:
        """Poll the job to its end: by its predicted time if the model has one, else by the adaptive schedule.

        A resumed job's time is not learned: its clock started when this run took it up.
        """
        watch = Watch(self.polling, self.job_times, job.workload, time.monotonic())
        self.forecast.running(job.index, watch.started)
        queued = False
        deadline = Deadline(self.timeout, watch.accepted)
        failures = 0  # polls failed in a row: retried until the job's deadline, however many
        last_fault: TransientError | None = None
        try:
            while not status.finished:
                now = time.monotonic()
                left = deadline.left(now)
                if left <= 0:
                    polls = "; the last %d polls failed, the last with %s" % (failures, last_fault) if failures else ""
                    return Outcome(job.index, TIMEOUT, error="no result %d s after acceptance (last state: %s%s)"
                                   % (self.timeout, status.state, polls))
                delay = self.retry.delay(failures, last_fault.retry_after, self.rng) if last_fault else 0.0
                self.control.sleep_to_poll(watch, now + delay, now + left)
                try:
                    status = self.client.poll(status.status_location)
                    failures, last_fault = 0, None
                    now = time.monotonic()
                    deadline.reached(now)
                    self.outage.heard_from("status host")
                    if status.state == SUCCEEDED and not resumed:
                        watch.finished(now)
                        self.control.seen_finished()
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
                    last_fault = error
                    counts.retries += 1
                    if error.unreachable:
                        deadline.unreachable(time.monotonic())
                        self.outage.check("status host")
                    else:
                        deadline.reached(time.monotonic())
                        self.outage.heard_from("status host")
                except WpsException as error:
                    return Outcome(job.index, FAILED, error=str(error))
        except Cancelled:
            return Outcome(job.index, CANCELLED, error=self.control.stopped_because or
                           "cancelled while the job was %s" % status.state)
        finally:
            self.polling.leave(watch)  # failed, timed out or cancelled too: off the shared grid
        if status.state == SUCCEEDED:
            return Outcome(job.index, SUCCEEDED, url=status.url)
        return Outcome(job.index, FAILED, error=status.error or "the server reported failure without a reason")
