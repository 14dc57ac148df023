"""The job-time model on simulated servers: predictions, honesty, fallback, persistence."""

import json
import math
import os
import random

import pytest
from wit_dispatcher.wit_provider.dispatch import job_times
from wit_dispatcher.wit_provider.dispatch.job_times import (
    FIT_SAMPLES,
    MIN_SAMPLES,
    JobTimes,
    JobTimesFile,
    Workload,
    model_key,
)


def wit_seconds(workload: Workload, rng: random.Random, noise: float = 0.1) -> float:
    """A simulated WIT: 20 s per km^0.8, growing with the square root of the years, lognormal noise."""
    return 20 * workload.area_km2 ** 0.8 * workload.years ** 0.5 * math.exp(rng.gauss(0, noise))


def random_workload(rng: random.Random) -> Workload:
    return Workload(math.exp(rng.uniform(math.log(0.01), math.log(50))), rng.choice([1, 5, 10, 35]))


def trained(jobs: int, seconds=wit_seconds, seed: int = 1) -> JobTimes:
    rng = random.Random(seed)
    model = JobTimes()
    for _ in range(jobs):
        workload = random_workload(rng)
        model.observe(workload, seconds(workload, rng))
    return model


def test_no_prediction_before_a_few_jobs():
    model = JobTimes()
    for _ in range(MIN_SAMPLES - 1):
        model.observe(Workload(1, 10), 60)
    assert model.predict(Workload(1, 10)) is None
    model.observe(Workload(1, 10), 60)
    assert model.predict(Workload(1, 10)).likely == pytest.approx(60, rel=0.01)


def test_learns_how_area_and_years_drive_the_time():
    model = trained(300)
    rng = random.Random(2)
    for workload in (Workload(0.05, 1), Workload(1, 10), Workload(20, 35)):
        truth = 20 * workload.area_km2 ** 0.8 * workload.years ** 0.5
        assert model.predict(workload).likely == pytest.approx(truth, rel=0.06)
    # the quantiles say how far to trust it: about 20 % of new jobs end before early, 10 % after late
    new = [random_workload(rng) for _ in range(2000)]
    early = sum(wit_seconds(w, rng) < model.predict(w).early for w in new) / len(new)
    late = sum(wit_seconds(w, rng) > model.predict(w).late for w in new) / len(new)
    assert 0.13 <= early <= 0.27 and 0.05 <= late <= 0.15


def test_exact_times_give_a_tight_prediction():
    model = trained(50, seconds=lambda w, rng: 60.0)
    prediction = model.predict(Workload(3, 10))
    assert 59.5 <= prediction.early <= prediction.likely <= prediction.late <= 60.5


def test_the_median_stands_in_with_few_samples_or_a_poor_fit():
    few = trained(FIT_SAMPLES - 1, seconds=lambda w, rng: 10 * w.area_km2)
    assert few.predict(Workload(0.01, 1)).likely == few.predict(Workload(50, 35)).likely
    # times unrelated to area and years: the fit predicts no better than the median, which is used
    unrelated = trained(400, seconds=lambda w, rng: math.exp(rng.uniform(math.log(5), math.log(500))))
    small, large = unrelated.predict(Workload(0.01, 1)), unrelated.predict(Workload(50, 35))
    assert small == large
    assert small.early < 50 < small.likely < 150 < small.late


def test_follows_a_server_that_slows_down():
    model = trained(300, seconds=lambda w, rng: 30.0)
    for _ in range(1500):
        model.observe(Workload(1, 10), 90.0)
    assert model.predict(Workload(1, 10)).likely == pytest.approx(90, rel=0.02)


def test_a_saved_model_predicts_the_same_and_holds_no_polygon(tmp_path):
    model = trained(200)
    store = JobTimesFile(tmp_path / "job_times.json")
    store.save("https://ows.example:443 WIT", model)
    store.save("http://other:8080 WIT", trained(20, seed=2))
    loaded = JobTimesFile(tmp_path / "job_times.json").load("https://ows.example:443 WIT")
    for workload in (Workload(0.05, 1), Workload(1, 10), Workload(20, 35)):
        assert loaded.predict(workload) == model.predict(workload)
    saved = json.loads((tmp_path / "job_times.json").read_text())
    assert set(saved["models"]) == {"https://ows.example:443 WIT", "http://other:8080 WIT"}
    assert set(saved["models"]["https://ows.example:443 WIT"]) == {
        "version", "samples", "fit", "durations", "fit_residuals", "median_residuals"}


def test_an_unreadable_file_starts_cold(tmp_path):
    path = tmp_path / "job_times.json"
    path.write_text("{not json")
    assert JobTimesFile(path).load("k").predict(None) is None
    assert JobTimesFile(tmp_path / "missing.json").load("k").samples == 0


def test_the_key_is_origin_and_process_without_secrets():
    key = model_key("https://user:secret@OWS.example.org/wps/?service=WPS&token=abc", "WIT")
    assert key == "https://ows.example.org:443 WIT"
    assert model_key("http://127.0.0.1:8080/wps?x=1", "WIT") == "http://127.0.0.1:8080 WIT"


def test_a_model_of_a_few_jobs_is_not_saved(tmp_path):
    store = JobTimesFile(tmp_path / "job_times.json")
    store.save("k", trained(FIT_SAMPLES - 1))
    assert not (tmp_path / "job_times.json").exists()


def test_polls_far_apart_widen_the_prediction_around_the_same_time():
    exact, bracketed = JobTimes(), JobTimes()
    for _ in range(20):
        exact.observe(Workload(1, 10), 60.0)
        bracketed.observe(Workload(1, 10), 66.0, 54.0)  # seen running at 54 s, finished at 66 s
    tight, wide = exact.predict(Workload(1, 10)), bracketed.predict(Workload(1, 10))
    assert wide.early < 57 and wide.late > 63 and tight.late - tight.early < 1
    assert wide.likely == pytest.approx(60, rel=0.03)


def test_a_job_found_finished_at_its_first_poll_ran_at_least_half_that():
    model = JobTimes()
    for _ in range(MIN_SAMPLES):
        model.observe(Workload(1, 10), 8.0, 0.0)
    prediction = model.predict(Workload(1, 10))
    assert 4.0 <= prediction.early <= prediction.likely <= prediction.late <= 8.0 and prediction.likely < 7.0


def test_an_impossible_interval_is_learned_as_its_end():
    inverted, exact = JobTimes(), JobTimes()
    for _ in range(MIN_SAMPLES):
        inverted.observe(Workload(1, 10), 60.0, 70.0)
        exact.observe(Workload(1, 10), 60.0)
    inverted.observe(Workload(1, 10), float("nan"))
    assert inverted.predict(Workload(1, 10)) == exact.predict(Workload(1, 10))


def test_a_damaged_saved_model_starts_cold(tmp_path):
    path = tmp_path / "job_times.json"
    path.write_text(json.dumps({"version": 1, "models": {"k": {"version": 1, "samples": 40, "durations": {}}}}))
    model = JobTimesFile(path).load("k")
    assert model.predict(Workload(1, 10)) is None
    model.observe(Workload(1, 10), 60.0)


def test_two_runs_saving_at_once_each_rename_a_whole_file_and_the_last_wins(tmp_path, monkeypatch):
    """Two QGIS (or qgis_process beside the desktop) end their runs together: the other run saves
    between this one's write and its rename. Each writes its own temporary file."""
    path = tmp_path / "job_times.json"
    this_run, other_run = JobTimesFile(path), JobTimesFile(path)
    rename = os.replace

    def the_other_run_saves_first(source, target):
        monkeypatch.setattr(job_times.os, "replace", rename)
        other_run.save("other", trained(FIT_SAMPLES, seed=2))
        assert json.loads(path.read_text())["models"].keys() == {"other"}  # whole: the other run's file
        rename(source, target)

    monkeypatch.setattr(job_times.os, "replace", the_other_run_saves_first)
    this_run.save("this", trained(FIT_SAMPLES + 1, seed=1))
    assert json.loads(path.read_text())["models"].keys() == {"this"}  # the last writer's file wins, whole
    assert JobTimesFile(path).load("this").samples == FIT_SAMPLES + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job_times.json"]  # no temporary file left


def test_a_save_that_cannot_rename_leaves_the_saved_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "job_times.json"
    JobTimesFile(path).save("k", trained(FIT_SAMPLES))
    before = path.read_bytes()

    def refuse(source, target):
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(job_times.os, "replace", refuse)
    with pytest.raises(PermissionError):
        JobTimesFile(path).save("k", trained(FIT_SAMPLES + 5))
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["job_times.json"]


def test_the_saved_file_keeps_the_permissions_of_a_file_the_user_writes(tmp_path):
    path = tmp_path / "job_times.json"
    JobTimesFile(path).save("k", trained(FIT_SAMPLES))
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600: other tools may read the model
    path.chmod(0o640)
    JobTimesFile(path).save("k", trained(FIT_SAMPLES + 1))
    assert path.stat().st_mode & 0o777 == 0o640  # the user's choice is kept


def test_a_temporary_file_a_killed_run_left_is_removed_by_the_next_save(tmp_path):
    path = tmp_path / "job_times.json"
    left = tmp_path / "job_times.json.k1ll3d.tmp"
    left.write_text("{")
    os.utime(left, (0, 0))  # long ago: no run still writes it
    writing = tmp_path / "job_times.json.n0w.tmp"
    writing.write_text("{")  # another run's, being written now: kept
    JobTimesFile(path).save("k", trained(FIT_SAMPLES))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job_times.json", "job_times.json.n0w.tmp"]
