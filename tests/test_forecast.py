"""The time left in a run, from the job-time model and the jobs still to run (clock values passed in)."""

import heapq
import math
import random

import pytest
from wit_dispatcher.wit_provider.dispatch.forecast import PACE_SECONDS, Forecast, seconds_left_text
from wit_dispatcher.wit_provider.dispatch.job_times import JobTimes, Workload
from wit_dispatcher.wit_provider.dispatch.polling import Polling


def model_of(seconds_per_km2: float, areas=(1, 2, 5, 10, 20, 40)) -> JobTimes:
    model = JobTimes()
    for _ in range(10):
        for area in areas:
            model.observe(Workload(area, 10), seconds_per_km2 * area)
    return model


def take(forecast: Forecast, index: int, workload: Workload, since: float | None = 0.0) -> None:
    """A job read and taken by a worker; with ``since``, running from then."""
    forecast.read(True)
    forecast.started(index, workload)
    if since is not None:
        forecast.running(index, since)


def test_nothing_known_no_eta():
    forecast = Forecast(JobTimes(), Polling(), 8, total=16)
    take(forecast, 0, Workload(1, 10), since=None)
    assert forecast.seconds_left(0.0) is None


def test_sixteen_jobs_of_a_minute_in_two_waves():
    forecast = Forecast(model_of(60, areas=(1,)), Polling(), 8, total=16)
    for index in range(8):
        take(forecast, index, Workload(1, 10))
    assert forecast.seconds_left(0.0) == pytest.approx(120, rel=0.01)
    assert forecast.seconds_left(30.0) == pytest.approx(90, rel=0.01)


def test_jobs_not_read_yet_cost_the_mean_of_the_jobs_read():
    forecast = Forecast(model_of(1.0), Polling(), 2, total=8)
    for index, area in enumerate((10, 30)):
        take(forecast, index, Workload(area, 10))
    # in flight: 10 s and 30 s; 6 more at a mean of 20 s, each to the worker free first: 10+20+20+20+20 = 90
    assert forecast.seconds_left(0.0) == pytest.approx(90, rel=0.02)


def test_skipped_and_reused_jobs_cost_nothing():
    forecast = Forecast(model_of(1.0), Polling(), 1, total=4)
    forecast.read(False)
    take(forecast, 1, Workload(10, 10))
    # 2 unread jobs, half of which would run: 1 x 10 s after the 10 s in flight
    assert forecast.seconds_left(0.0) == pytest.approx(20, rel=0.02)


def test_a_queueing_server_sets_the_pace():
    forecast = Forecast(model_of(1.0), Polling(), 8, total=100)
    for index in range(28):
        take(forecast, index, Workload(1, 10), since=None)
    for index in range(20):  # 20 finished, one every 5 s
        forecast.finished(index, 5.0 * (index + 1))
    forecast.queued_job(135.0)
    assert forecast.server_paced(140.0)
    # 8 in flight + 72 unread at one job per 5 s
    assert forecast.seconds_left(140.0) == pytest.approx(80 * 5, rel=0.01)
    assert not forecast.server_paced(135.0 + PACE_SECONDS + 1)


def test_eta_errors_at_milestones():
    forecast = Forecast(model_of(10, areas=(1,)), Polling(), 1, total=10)
    take(forecast, 0, Workload(1, 10))
    forecast.passed(0.0, 1)  # 10 %: predicts 10 s in flight + 9 x 10 s = 100 s
    errors = forecast.errors(125.0)
    assert list(errors) == [0.1] and errors[0.1] == pytest.approx(-0.2, abs=0.01)


def test_no_eta_error_for_a_milestone_passed_as_the_run_ends():
    forecast = Forecast(model_of(60, areas=(1,)), Polling(), 8, total=16)
    for index in range(16):
        if index >= 8:
            forecast.finished(index - 8, 60.0)
        take(forecast, index, Workload(1, 10), since=0.0 if index < 8 else 60.0)
    forecast.passed(60.0, 8)  # 10 and 50 %: the first wave ended, the second starts
    for index in range(8, 15):
        forecast.finished(index, 120.0)
    forecast.passed(120.0, 15)  # 90 %: as the last job ends, a moment later
    errors = forecast.errors(120.01)
    assert list(errors) == [0.1, 0.5] and errors[0.5] == pytest.approx(0.0, abs=0.01)


@pytest.mark.parametrize("seconds, text", [(4, "about 4 s left"), (720, "about 12 min left"),
                                           (3 * 3600 + 1800, "about 3.5 h left"), (3 * 86400, "about 3.0 days left")])
def test_time_left_text(seconds, text):
    assert seconds_left_text(seconds) == text


def test_a_sample_of_the_whole_input_costs_the_jobs_not_read():
    # the layer is sorted by area: the jobs read first say nothing of the rest, the caller's sample does
    sample = [Workload(area, 10) for area in (1, 2, 5, 10, 20, 40)]
    forecast = Forecast(model_of(1.0), Polling(), 1, total=7, sample=sample)
    take(forecast, 0, Workload(1, 10))
    assert forecast.seconds_left(0.0) == pytest.approx(1 + 6 * 78 / 6, rel=0.03)


def test_a_long_run_is_shared_out_without_placing_every_job():
    forecast = Forecast(model_of(1.0, areas=(10,)), Polling(), 8, total=1_000_008)
    for index in range(8):
        take(forecast, index, Workload(10, 10))
    assert forecast.seconds_left(0.0) == pytest.approx(10 + 1_000_000 * 10 / 8, rel=0.005)


def test_a_sample_of_the_whole_input_costs_exactly_the_jobs_not_read():
    sample = [Workload(area, 10) for area in (10, 20, 30)]
    forecast = Forecast(model_of(1.0), Polling(), 1, total=3, sample=sample)
    forecast.read(True, sample[2])  # the longest first: the mean of all (20 s) would cost the rest at 40 s
    forecast.started(0, sample[2])
    forecast.running(0, 0.0)
    assert forecast.seconds_left(0.0) == pytest.approx(30 + 10 + 20, rel=0.02)


def test_a_simulated_mixed_run_knows_its_end_from_a_tenth_of_it_on():
    """200 jobs of 1-60 s, 8 workers, a warm model: events in simulated time, no clock."""
    rng = random.Random(11)
    workloads = [Workload(math.exp(rng.uniform(0, math.log(60))), 10) for _ in range(200)]
    model = JobTimes()
    for workload in workloads:
        model.observe(workload, workload.area_km2)  # 1 s per km2
    forecast = Forecast(model, Polling(), 8, total=200, sample=workloads)
    ends: list = []

    def start(index, now):
        forecast.read(True, workloads[index])
        forecast.started(index, workloads[index])
        forecast.running(index, now)
        heapq.heappush(ends, (now + workloads[index].area_km2, index))

    for index in range(8):
        start(index, 0.0)
    said, finished = [], 0
    while ends:
        now, index = heapq.heappop(ends)
        forecast.finished(index, now)
        finished += 1
        if finished + len(ends) < 200:
            start(finished + len(ends), now)
        said.append((now, forecast.seconds_left(now), finished))
    end = said[-1][0]
    errors = [abs(now + left - end) / (end - now) for now, left, done in said if 20 <= done <= 180]
    assert max(errors) <= 0.10
