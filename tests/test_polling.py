"""The adaptive poll schedule, by counting polls of simulated jobs (no clocks, no sleeps)."""

import pytest
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
