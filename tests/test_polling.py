"""The adaptive poll schedule, by counting polls of simulated jobs (no clocks, no sleeps)."""

import random

import pytest
from wit_dispatcher.wit_provider.job_times import JobTimes, Workload
from wit_dispatcher.wit_provider.polling import Polling


def poll_job(polling: Polling, duration: float) -> tuple[int, float]:
    """Polls a job of ``duration`` seconds as a worker would; returns (polls, overshoot)."""
    age = last = 0.0
    polls = 0
    while True:
        age += polling.delay(age)
        polls += 1
        if age >= duration:
            polling.finished(last, age)
            return polls, age - duration
        last = age


def test_backs_off_while_nothing_is_known_and_is_capped():
    polling = Polling()
    delays = [polling.delay(age) for age in (0, 0.5, 1, 2, 5, 10, 30, 100, 1000)]
    assert delays == sorted(delays)
    assert delays[0] == polling.first and delays[-1] == polling.cap


@pytest.mark.parametrize("typical", [None, 1.0, 12.0, 60.0, 3600.0])
def test_never_more_than_once_a_second_after_ten_seconds(typical):
    polling = Polling()
    if typical:
        polling.finished(typical, typical)
    assert all(polling.delay(age / 10) >= 1.0 for age in range(100, 40000, 7))


def test_sixty_second_jobs_need_few_polls_once_learned():
    polling = Polling()
    first_polls, first_late = poll_job(polling, 60)
    later = [poll_job(polling, 60) for _ in range(5)]
    assert first_polls <= 16 and first_late <= polling.cap
    assert all(polls <= 5 and late <= 0.05 * 60 + 0.01 for polls, late in later)
    assert (first_polls + later[0][0]) / 2 <= 12  # two waves of 8: the benchmark's case


def test_one_second_jobs_are_caught_within_a_tenth_once_learned():
    polling = Polling()
    poll_job(polling, 1.0)
    results = [poll_job(polling, 1.0) for _ in range(20)]
    assert all(polls <= 4 and late <= 0.1 + 1e-9 for polls, late in results)


def test_an_early_finisher_is_not_slept_past_for_long():
    polling = Polling()
    for _ in range(5):
        poll_job(polling, 600)
    polls, late = poll_job(polling, 30)
    assert late <= 0.5 * 600  # sleeps are at most half the typical duration
    assert polling.typical_duration() == pytest.approx(600, rel=0.05)


def follow(polling: Polling, model: JobTimes, duration: float, workload: Workload | None = None) -> tuple[int, float]:
    """Polls a job of ``duration`` seconds as a worker does with a model; returns (polls, lateness)."""
    age = last = 0.0
    polls = 0
    while True:
        age += polling.delay(age, model.predict(workload))
        polls += 1
        if age >= duration:
            polling.finished(last, age)
            model.observe(workload, (last + age) / 2, age - last)
            return polls, age - duration
        last = age


def waves(polling: Polling, model: JobTimes, durations: list[float], workloads: list, width: int = 8) -> list:
    """Jobs in waves of ``width`` started together (they see the same model), as in the benchmark."""
    results = []
    for begin in range(0, len(durations), width):
        expected = [model.predict(w) for w in workloads[begin:begin + width]]
        frozen = [_Frozen(e) for e in expected]
        results += [follow(polling, f, d, w) for f, d, w in
                    zip(frozen, durations[begin:begin + width], workloads[begin:begin + width])]
        for f, w in zip(frozen, workloads[begin:begin + width]):
            model.observe(w, *f.learned)
    return results


class _Frozen:
    """The model as jobs of one wave see it: learning happens when the wave is over."""

    def __init__(self, expected):
        self.expected = expected
        self.learned = (0.0, 0.0)

    def predict(self, workload):
        return self.expected

    def observe(self, workload, seconds, bracket):
        self.learned = (seconds, bracket)


def test_cold_model_keeps_todays_schedule():
    model, today = JobTimes(), Polling()
    assert all(Polling().delay(age, model.predict(None)) == today.delay(age) for age in (0, 1, 5, 30, 600))


def test_sixty_second_jobs_warm_need_few_polls_and_are_caught_within_a_second():
    model, polling = JobTimes(), Polling()
    cold = waves(polling, model, [60.0] * 16, [Workload(1, 10)] * 16)
    assert sum(polls for polls, _ in cold) / 16 <= 10
    warm = waves(Polling(), model, [60.0] * 16, [Workload(1, 10)] * 16)  # the next run: a new Polling
    assert sum(polls for polls, _ in warm) / 16 <= 4
    assert all(late <= 1.0 for _, late in warm)


def test_one_second_jobs_warm():
    model = JobTimes()
    waves(Polling(), model, [1.0] * 200, [Workload(1, 10)] * 200)
    warm = waves(Polling(), model, [1.0] * 200, [Workload(1, 10)] * 200)
    assert sum(polls for polls, _ in warm) / 200 <= 2.5
    assert sum(late for _, late in warm) / 200 <= 0.05


def test_mixed_jobs_warm_are_polled_by_their_own_prediction():
    rng = random.Random(3)
    areas = [rng.uniform(1, 60) for _ in range(200)]
    workloads = [Workload(a, 10) for a in areas]
    model = JobTimes()
    waves(Polling(), model, areas, workloads)  # 1 s per km2: 1-60 s
    warm = waves(Polling(), model, areas, workloads)
    assert sum(polls for polls, _ in warm) / 200 <= 5
    assert sum(late for _, late in warm) / sum(areas) <= 0.03


def test_an_overrunning_job_backs_off():
    model = JobTimes()
    for _ in range(20):
        model.observe(Workload(1, 10), 60.0)
    polls, late = follow(Polling(), model, 600.0, Workload(1, 10))
    assert polls <= 30 and late <= 0.5 * 60 + 1e-9


def test_a_job_found_finished_after_a_long_sleep_teaches_its_prediction_not_the_middle_of_the_sleep():
    # the server answers a little ahead of our clock: some 60 s jobs look done just before 60 s
    durations = [59.0, 60.0] * 8
    model = JobTimes()
    waves(Polling(), model, durations, [Workload(1, 10)] * 16)
    for _ in range(3):  # run after run on the same server
        warm = waves(Polling(), model, durations, [Workload(1, 10)] * 16)
    assert sum(polls for polls, _ in warm) / 16 <= 4
    assert all(late <= 1.0 for _, late in warm)
    assert model.predict(Workload(1, 10)).early >= 55
