"""One job from its journal record to its outcome: reuse, resume or submit, then follow it to its end.

Everything that happens to a job is journaled as it happens, so a run stopped at any moment
is resumed by the next without sending a job twice: what the record already settles is reused,
an accepted job is polled again, and a POST that may have reached the server is counted as a
possible duplicate.
"""

from __future__ import annotations

import random
import time

from ..common.job_states import ACCEPTED, CANCELLED, FAILED, SUCCEEDED, TIMEOUT
from .client import CredentialsRefused, TransientError
from .following import Follower
from .forecast import Forecast
from .jobs import Deadline, Job, JobCounts, Outcome, RetryPolicy
from .journal import Journal, JournalError, Record
from .run_control import Cancelled, OutageWatch, RunControl
from .wps import JobStatus, WpsException


class JobRunner:
    """Runs single jobs through a client with ``submit(bytes)``; a Follower polls them to their end."""

    def __init__(self, client, control: RunControl, outage: OutageWatch, retry: RetryPolicy, rng: random.Random,
                 forecast: Forecast, follower: Follower, journal: Journal | None, retry_failed: bool,
                 timeout: float):
        self.client = client
        self.timeout = timeout  # how long an Execute is retried, from its first try
        self.control = control
        self.outage = outage
        self.retry = retry
        self.rng = rng
        self.forecast = forecast
        self.follower = follower
        self.journal = journal
        self.retry_failed = retry_failed

    def journal_of(self, job: Job) -> Journal | None:
        """The journal, for jobs that have a key to record under."""
        return self.journal if job.key else None

    def reusable(self, index: int, record: Record | None) -> Outcome | None:
        """The outcome a journal record already settles, or None if the job must run."""
        if record is None:
            return None
        if record.state == SUCCEEDED:
            return Outcome(index, SUCCEEDED, url=record.url or "", reused=True)
        if record.state == FAILED and not self.retry_failed:
            return Outcome(index, FAILED, error=record.error or "", reused=True)
        return None

    def outcome(self, job: Job, record: Record | None, counts: JobCounts) -> Outcome:
        """Run one job to its end and journal it. Never raises: every job handed out is reported."""
        if self.control.stopped:
            return Outcome(job.index, CANCELLED, error="cancelled before the job was sent")
        try:
            outcome = self._run(job, record, counts)
            journal = self.journal_of(job)
            if journal and outcome.status in (SUCCEEDED, FAILED, TIMEOUT):
                journal.record_finished(job.key, outcome.status, outcome.url, outcome.error)
            return outcome
        except JournalError as error:  # without a journal, nothing done from here on would be kept
            self.control.halt(str(error))
            return Outcome(job.index, CANCELLED, error=str(error))
        except Exception as error:  # a bug must not silently lose a feature
            return Outcome(job.index, FAILED, error="internal error: %r" % (error,))

    def _run(self, job: Job, record: Record | None, counts: JobCounts) -> Outcome:
        resumable = record is not None and record.status_location and (
            record.state == ACCEPTED or (record.state == TIMEOUT and not self.retry_failed))
        if resumable:
            return self.follower.follow(job, JobStatus(ACCEPTED, record.status_location), counts, resumed=True)
        journal = self.journal_of(job)
        if journal and journal.record_submission(job.key):
            counts.possible_duplicates += 1  # an earlier run died with its POST unanswered
        try:
            status = self._submit(job, counts)
        except CredentialsRefused as error:  # every other submission would be refused too
            self.control.halt(str(error))
            if journal:
                journal.record_finished(job.key, CANCELLED, error=str(error))
            return Outcome(job.index, CANCELLED, error=str(error))
        except WpsException as error:
            return Outcome(job.index, FAILED, error=str(error))
        except _DeadlinePassed as passed:
            return Outcome(job.index, TIMEOUT, error=str(passed))
        except Cancelled:
            return Outcome(job.index, CANCELLED,
                           error=self.control.stopped_because or "cancelled before the job was accepted")
        if journal and status.status_location:
            journal.record_accepted(job.key, status.status_location)
        return self.follower.follow(job, status, counts)

    def _submit(self, job: Job, counts: JobCounts) -> JobStatus:
        """POST the Execute until the server accepts or refuses it: a transient fault is retried
        until the job's deadline, however many come in a row (an outage until the run stops)."""
        deadline = Deadline(self.timeout, time.monotonic())
        tries = 0
        maybe_received = False  # whether any try may have reached the WPS (and made a job)
        while True:
            tries += 1
            try:
                status = self.client.submit(job.execute)
                self.outage.heard_from("WPS")
                return status
            except (WpsException, CredentialsRefused):
                self.outage.heard_from("WPS")
                raise
            except TransientError as error:
                now = time.monotonic()
                if error.unreachable:
                    deadline.unreachable(now)
                else:
                    deadline.reached(now)
                    self.outage.heard_from("WPS")
                    if error.unsent:
                        self.forecast.refused_job(now)
                if not error.unsent:
                    # The server may have accepted it: asking again may make a second job.
                    maybe_received = True
                    counts.possible_duplicates += 1
                    journal = self.journal_of(job)
                    if journal:
                        journal.record_possible_duplicate(job.key)
                try:
                    self._wait_to_retry(error, deadline, tries, counts)
                except Cancelled:
                    journal = self.journal_of(job)
                    if journal and not maybe_received:  # every try refused: a rerun has no duplicate to fear
                        journal.record_finished(job.key, CANCELLED, error="cancelled before the job was accepted")
                    raise

    def _wait_to_retry(self, error: TransientError, deadline: Deadline, tries: int, counts: JobCounts) -> None:
        """Sleep before the next try, or raise _DeadlinePassed when the next may not come before the
        job's deadline. A WPS that cannot be reached is waited out until ``outage_seconds`` of
        silence stop the whole run (Cancelled)."""
        if error.unreachable:
            self.outage.check("WPS")
        delay = self.retry.delay(tries, error.retry_after, self.rng)
        left = deadline.left(time.monotonic())
        if left <= 0 or (error.retry_after is not None and error.retry_after > left):  # Retry-After is honoured
            raise _DeadlinePassed("not submitted within %d s: %d tries failed, the last with %s"
                                  % (deadline.seconds, tries, error))
        counts.retries += 1
        self.control.sleep(min(delay, left))  # one last try at the deadline


class _DeadlinePassed(Exception):
    """The job's Execute kept failing with transient faults until its deadline; says how."""
