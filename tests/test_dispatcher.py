"""The bounded pool, without QGIS or HTTP: a scripted client stands in for the server.

The scripted client is a double of our own client interface (submit/poll); the
real server is exercised in test_client.py and test_algorithm.py.
"""

import threading
import time

import pytest
from wit_dispatcher.wit_provider.common import job_states
from wit_dispatcher.wit_provider.common.job_states import CANCELLED, FAILED, SKIPPED, SUCCEEDED, TIMEOUT
from wit_dispatcher.wit_provider.dispatch import following
from wit_dispatcher.wit_provider.dispatch.client import TransientError
from wit_dispatcher.wit_provider.dispatch.dispatcher import Dispatcher
from wit_dispatcher.wit_provider.dispatch.job_times import JobTimes, Prediction, Workload
from wit_dispatcher.wit_provider.dispatch.jobs import Job, RetryPolicy
from wit_dispatcher.wit_provider.dispatch.journal import Journal
from wit_dispatcher.wit_provider.dispatch.polling import Polling
from wit_dispatcher.wit_provider.dispatch.tally import Tally
from wit_dispatcher.wit_provider.dispatch.wps import JobStatus, WpsException


def fast() -> Polling:
    """A quick schedule for tests; a new one per run, since it learns job durations."""
    return Polling(first=0.01, fraction=0.1, cap=0.05, finest=0.01)
NO_WAIT = RetryPolicy(base=0.001, cap=0.002)


class ScriptedClient:
    """Each job is named by its Execute body; ``plans`` say how many polls it takes and how it ends.

    A plan's ``after`` names a job that must finish first; ``hold_until_in_flight`` keeps every
    job running until that many were in flight at once. Both order events, not clocks, so a test
    holds on a loaded machine.
    """

    def __init__(self, polls=2, plans=None, hold_until_in_flight=0):
        self.polls = polls
        self.plans = plans or {}
        self.hold_until_in_flight = hold_until_in_flight
        self.finished = set()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.submitted = []
        self.poll_count = {}
        self.submit_errors = {}

    def submit(self, execute):
        with self.lock:
            errors = self.submit_errors.get(execute, [])
            if errors:
                raise errors.pop(0)
            plan = self.plans.get(execute, {})
            if "refuse" in plan:
                raise WpsException("InvalidParameterValue", plan["refuse"])
            self.submitted.append(execute)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.poll_count[execute] = 0
        return JobStatus(job_states.ACCEPTED, status_location=execute.decode())

    def poll(self, location):
        key = location.encode()
        plan = self.plans.get(key, {})
        with self.lock:
            self.poll_count[key] += 1
            count = self.poll_count[key]
            after = plan.get("after")
            held = self.max_in_flight < self.hold_until_in_flight or (after is not None and after not in self.finished)
        if plan.get("poll_errors", 0) >= count:
            raise TransientError("HTTP 502")
        if plan.get("hang") or count < self.polls or held:
            return JobStatus(job_states.STARTED, location)
        with self.lock:
            self.in_flight -= 1
            self.finished.add(key)
        if "fail" in plan:
            return JobStatus(job_states.FAILED, location, error=plan["fail"])
        return JobStatus(job_states.SUCCEEDED, location, url="s3://b/wit/%s" % location)


def jobs(n, skip=()):
    for i in range(n):
        yield Job(i, skip_reason="no geometry") if i in skip else Job(i, execute=b"job%d" % i)


class NoJobTimes(JobTimes):
    """For scripted jobs, which end after a number of polls, not of seconds: learning their
    times would feed back (polled later, they take longer)."""

    def predict(self, workload):
        return None


def run(client, n, max_concurrent=3, timeout=30, **kwargs):
    dispatcher = Dispatcher(client, max_concurrent, timeout, fast(), NO_WAIT, seed=1, job_times=NoJobTimes())
    return list(dispatcher.run(jobs(n, kwargs.pop("skip", ())), **kwargs))


def test_every_job_once_in_input_order():
    client = ScriptedClient()
    outcomes = run(client, 40, skip={0, 7})
    assert [o.index for o in outcomes] == list(range(40))
    assert [o.status for o in outcomes].count(SUCCEEDED) == 38
    assert outcomes[7].status == SKIPPED and outcomes[7].error == "no geometry"
    assert outcomes[5].url == "s3://b/wit/job5"
    assert sorted(client.submitted) == sorted(b"job%d" % i for i in range(40) if i not in (0, 7))


@pytest.mark.parametrize("limit", [1, 4])
def test_never_more_in_flight_than_the_limit(limit):
    client = ScriptedClient(polls=4, hold_until_in_flight=limit)
    run(client, 30, max_concurrent=limit)
    assert client.max_in_flight == limit


def test_jobs_are_read_lazily():
    client = ScriptedClient(plans={b"job%d" % i: {"after": b"job%d" % (i - 1)} for i in range(1, 50)})
    read = []

    def source():
        for job in jobs(50):
            read.append(job.index)
            yield job

    dispatcher = Dispatcher(client, 2, 30, fast(), NO_WAIT)
    outcomes = dispatcher.run(source())
    next(outcomes)
    assert len(read) <= 2 + 2  # the limit in flight, plus what was emitted and the look-ahead
    assert len(list(outcomes)) == 49


def test_jobs_that_need_no_server_are_read_lazily_too():
    read = []

    def skipped():
        for i in range(1000):
            read.append(i)
            yield Job(i, skip_reason="no geometry")

    outcomes = Dispatcher(ScriptedClient(), 2, 30, fast(), NO_WAIT, read_ahead=50).run(skipped())
    next(outcomes)
    assert len(read) <= 51
    assert len(list(outcomes)) == 999


def test_failures_carry_the_server_reason_and_do_not_stop_the_run():
    client = ScriptedClient(plans={b"job1": {"fail": "Process error: no data"},
                                   b"job2": {"refuse": "bad geometry"}})
    outcomes = run(client, 5)
    assert outcomes[1].status == FAILED and outcomes[1].error == "Process error: no data"
    assert outcomes[2].status == FAILED and "InvalidParameterValue: bad geometry" in outcomes[2].error
    assert [o.status for o in outcomes].count(SUCCEEDED) == 3


def test_timeout_after_the_deadline_and_others_go_on():
    client = ScriptedClient(plans={b"job0": {"hang": True}})
    outcomes = run(client, 4, timeout=1.0)  # the others need ~0.03 s: a wide margin on a loaded machine
    assert outcomes[0].status == TIMEOUT and "last state: started" in outcomes[0].error
    assert [o.status for o in outcomes[1:]] == [SUCCEEDED] * 3


def test_transient_poll_failures_are_retried_however_many_come_in_a_row():
    client = ScriptedClient(plans={b"job0": {"poll_errors": 2}, b"job1": {"poll_errors": 40}})
    outcomes = run(client, 2)
    assert [o.status for o in outcomes] == [SUCCEEDED, SUCCEEDED]
    assert client.poll_count[b"job1"] > 40


def test_submission_retries_count_possible_duplicates():
    client = ScriptedClient()
    client.submit_errors[b"job0"] = [TransientError("ServerBusy", unsent=True)] * 2
    client.submit_errors[b"job1"] = [TransientError("read timeout", unsent=False)]
    dispatcher = Dispatcher(client, 3, 30, fast(), NO_WAIT, seed=1)
    outcomes = list(dispatcher.run(jobs(2)))
    assert [o.status for o in outcomes] == [SUCCEEDED, SUCCEEDED]
    assert dispatcher.tally.retries == 3
    assert dispatcher.tally.possible_duplicates == 1  # only the POST the server may have seen


def test_submission_faults_are_retried_however_many_come_in_a_row():
    client = ScriptedClient()
    client.submit_errors[b"job0"] = [TransientError("HTTP 503", unsent=True)] * 40
    dispatcher = Dispatcher(client, 1, 30, fast(), NO_WAIT, seed=1)
    outcomes = list(dispatcher.run(jobs(1)))
    assert outcomes[0].status == SUCCEEDED and dispatcher.tally.retries == 40


def test_time_the_wps_cannot_be_reached_does_not_use_up_a_job_deadline():
    class BackAfterAWhile:
        """Unreachable for 0.6 s (twice the jobs' deadline), then one 503, then accepting."""

        def __init__(self):
            self.down_until = time.monotonic() + 0.6
            self.busy = True

        def submit(self, execute):
            if time.monotonic() < self.down_until:
                raise TransientError("ConnectionError", unsent=True, unreachable=True)
            if self.busy:
                self.busy = False
                raise TransientError("HTTP 503", unsent=True)
            return JobStatus(job_states.ACCEPTED, status_location="status/0")

        def poll(self, location):
            return JobStatus(job_states.SUCCEEDED, location, url="s3://b/wit/0")

    policy = RetryPolicy(base=0.001, cap=0.002, outage_seconds=30)
    outcomes = list(Dispatcher(BackAfterAWhile(), 1, 0.3, fast(), policy).run(jobs(1)))
    assert [o.status for o in outcomes] == [SUCCEEDED], outcomes[0].error


def test_a_retry_after_beyond_the_deadline_is_honoured_by_ending_the_job():
    client = ScriptedClient()
    client.submit_errors[b"job0"] = [TransientError("HTTP 503", unsent=True, retry_after=600)]
    outcomes = run(client, 1, timeout=30)
    assert outcomes[0].status == TIMEOUT and "1 tries failed" in outcomes[0].error  # not sent again early
    assert client.submitted == []


def test_a_cancel_while_every_try_was_refused_leaves_no_possible_duplicate_for_the_rerun(tmp_path):
    cancel = threading.Event()

    class Busy:
        tries = 0

        def submit(self, execute):
            self.tries += 1
            if self.tries == 3:
                cancel.set()
            raise TransientError("HTTP 503", unsent=True)

    journal = Journal(tmp_path / "j.sqlite")
    todo = [Job(0, execute=b"job0", key="k0")]
    outcomes = list(Dispatcher(Busy(), 1, 30, fast(), NO_WAIT, journal=journal).run(todo, cancel.is_set))
    assert [o.status for o in outcomes] == [CANCELLED] and journal.lookup("k0").state == CANCELLED
    again = Dispatcher(ScriptedClient(), 1, 30, fast(), NO_WAIT, journal=journal)
    assert [o.status for o in again.run(todo)] == [SUCCEEDED] and again.tally.possible_duplicates == 0


def test_an_outage_stops_the_run_instead_of_failing_every_feature():
    client = ScriptedClient()
    down = TransientError("ConnectionError", unsent=True, unreachable=True)
    for i in range(20):
        client.submit_errors[b"job%d" % i] = [down] * 1000
    policy = RetryPolicy(base=0.001, cap=0.002, outage_seconds=0.3)
    dispatcher = Dispatcher(client, 2, 30, fast(), policy)
    outcomes = list(dispatcher.run(jobs(20)))
    assert {o.status for o in outcomes} == {CANCELLED}
    assert "gave no reply" in dispatcher.stopped_because
    assert outcomes[0].error == dispatcher.stopped_because


def test_cancel_stops_quickly_and_accounts_for_every_job_read():
    client = ScriptedClient(plans={b"job%d" % i: {"hang": True} for i in range(100)})
    cancel = threading.Event()

    def progress(tally: Tally):
        if client.in_flight == 3:  # submitted, not merely handed to a worker
            cancel.set()

    dispatcher = Dispatcher(client, 3, 3600, Polling(first=30, cap=30), NO_WAIT)
    outcomes = list(dispatcher.run(jobs(100), cancel.is_set, progress))
    assert [o.status for o in outcomes] == [CANCELLED] * len(outcomes)
    assert len(outcomes) == 3 and len(client.submitted) == 3
    assert all(o.error for o in outcomes)
    workers = [t for t in threading.enumerate() if t.name.startswith("wit-worker")]
    for worker in workers:  # they wake from their 30 s waits on the stop event
        worker.join(timeout=5)
    assert not any(worker.is_alive() for worker in workers)


def test_monitor_line_counts_like_the_notebook():
    tally = Tally(running=2)
    tally.counts[SUCCEEDED] = 5
    tally.counts[FAILED] = 1
    assert tally.monitor_line() == "2 running, 5 completed, 1 failed"
    tally.counts[TIMEOUT] = 1
    assert tally.monitor_line().endswith(", 1 timeout")




class RecordingPolling(Polling):
    """A quick schedule that remembers the predictions it was given."""

    def __init__(self):
        super().__init__(first=0.01, fraction=0.1, cap=0.05, finest=0.01, dense_finest=0.01)
        self.given = []

    def delay(self, age, expected=None):
        self.given.append(expected)
        return 0.01


def test_jobs_are_polled_by_the_models_prediction_and_teach_it():
    model = JobTimes()
    for area in (1, 2, 4) * 4:
        model.observe(Workload(area, 10), 0.05 * area)
    polling = RecordingPolling()
    client = ScriptedClient(polls=2)
    client.submit_errors[b"job0"] = [TransientError("ServerBusy", unsent=True)]
    workloads = [Workload(1 + i % 4, 10) for i in range(12)]
    dispatcher = Dispatcher(client, 3, 30, polling, NO_WAIT, seed=1, job_times=model, total=12)
    outcomes = list(dispatcher.run(Job(i, execute=b"job%d" % i, workload=w) for i, w in enumerate(workloads)))
    assert all(o.status == SUCCEEDED for o in outcomes)
    assert polling.given and all(given is not None for given in polling.given)  # every poll by a prediction
    assert model.samples == 12 + 12
    tally = dispatcher.tally
    assert tally.refused == 1 and tally.server_paced
    assert tally.seconds_left == 0 and {0.1, 0.5} <= set(tally.eta_errors)


class KnowsAreaOne(JobTimes):
    """Knows that jobs of 1 km² take a moment; of others, nothing."""

    def predict(self, workload):
        return Prediction(0.01, 0.01, 0.01) if workload.area_km2 == 1 else None


def test_a_job_seen_finished_wakes_the_others_to_work_out_their_next_poll():
    # Job 1 is unknown: alone it would sleep an hour. Job 0 ends at its second poll, and what
    # it teaches (the run's typical time) must reach job 1 in its sleep.
    polling = Polling(first=3600, cap=3600, jitter=0, finest=0.01)
    dispatcher = Dispatcher(ScriptedClient(polls=2), 2, 7200, polling, NO_WAIT, job_times=KnowsAreaOne())
    watchdog = threading.Event()
    timer = threading.Timer(60, watchdog.set)  # only so that a regression fails instead of hanging
    timer.start()
    try:
        todo = [Job(0, execute=b"job0", workload=Workload(1, 10)), Job(1, execute=b"job1", workload=Workload(2, 10))]
        outcomes = list(dispatcher.run(todo, is_cancelled=watchdog.is_set))
    finally:
        timer.cancel()
    assert [o.status for o in outcomes] == [SUCCEEDED, SUCCEEDED]


class QueueingClient(ScriptedClient):
    """Holds every job Accepted (in the server's queue) for ``queued`` polls, then runs it."""

    def __init__(self, queued):
        super().__init__(polls=queued + 2)
        self.queued = queued
        self.last_accepted = {}

    def poll(self, location):
        status = super().poll(location)
        if self.poll_count[location.encode()] <= self.queued:
            self.last_accepted[location] = time.monotonic()
            return JobStatus(job_states.ACCEPTED, location)
        return status


class RecordingJobTimes(JobTimes):
    def __init__(self):
        super().__init__()
        self.learned = {}  # area -> (seconds, when it was learned)

    def observe(self, workload, seconds, running_at=None):
        self.learned[workload.area_km2] = (seconds, time.monotonic())
        super().observe(workload, seconds, running_at)


def test_a_job_held_in_the_servers_queue_counts_as_queued_and_its_time_from_when_it_ran(monkeypatch):
    monkeypatch.setattr(following, "QUEUED_SECONDS", 0.0)
    client, model = QueueingClient(queued=5), RecordingJobTimes()
    dispatcher = Dispatcher(client, 2, 30, fast(), NO_WAIT, job_times=model, total=2)
    todo = [Job(i, execute=b"job%d" % i, workload=Workload(i + 1, 10)) for i in range(2)]
    outcomes = list(dispatcher.run(todo))
    assert [o.status for o in outcomes] == [SUCCEEDED, SUCCEEDED]
    assert dispatcher.tally.queued == 2 and dispatcher.tally.server_paced
    assert all(count == 7 for count in client.poll_count.values())
    for i in range(2):  # its time runs from the last poll that found it Accepted, not from its submission
        seconds, learned_at = model.learned[i + 1]
        assert seconds <= learned_at - client.last_accepted["job%d" % i]


def test_only_succeeded_jobs_teach_the_model():
    model = RecordingJobTimes()
    client = ScriptedClient(plans={b"job0": {"fail": "no data"}})
    dispatcher = Dispatcher(client, 2, 30, fast(), NO_WAIT, job_times=model)
    todo = [Job(i, execute=b"job%d" % i, workload=Workload(i + 1, 10)) for i in range(2)]
    assert [o.status for o in dispatcher.run(todo)] == [FAILED, SUCCEEDED]
    assert list(model.learned) == [2]
