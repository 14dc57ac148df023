"""Wetlands measured in worker processes: the same results as in threads, and nothing lost when the
processes cannot start or stop half way. Plain Python; the processes are real, started with spawn."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import EXPECTED_READER
from wit_server.s3 import sample_uids, wit_parquet

from wit_provider.results import loader as loader_module
from wit_provider.results import processes
from wit_provider.results.fetch import Fetcher
from wit_provider.results.loader import FAILED, LOADED, NO_RESULT, LoadJob, ResultLoader, SiteJob
from wit_provider.results.processes import MIN_WETLANDS, interpreter, process_count
from wit_provider.results.table import FRACTIONS

THRESHOLD = 0.01


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> list[LoadJob | SiteJob]:
    """Every sample series as a local file (both time encodings), and the cases that fail or combine."""
    folder = tmp_path_factory.mktemp("series")
    found = []
    for number, uid in enumerate(sample_uids()):
        path = folder / ("%s.parquet" % uid)
        path.write_bytes(wit_parquet(uid, "int96" if number % 2 else "int64"))
        found.append(LoadJob(uid, str(path), 10.0 + number))
    (folder / "broken.parquet").write_bytes(b"PAR1 not a parquet file")
    first, second = found[0].location, found[1].location
    found += [LoadJob("missing", str(folder / "gone.parquet"), 1.0),
              LoadJob("broken", str(folder / "broken.parquet"), 1.0),
              LoadJob("none", None),
              LoadJob("increments", json.dumps([first, second]), 5.0),
              LoadJob("broken first", json.dumps([str(folder / "broken.parquet"), str(folder / "gone.parquet")]), 1.0),
              LoadJob("gone second", json.dumps([first, str(folder / "gone.parquet")]), 1.0),
              SiteJob("site", (LoadJob("a", first, 3.0), LoadJob("b", second, 1.0), LoadJob("c", second, None)), 0.5)]
    return found


def loaded_all(jobs, processes: int, **options) -> tuple[list, ResultLoader]:
    loader = ResultLoader(Fetcher(), EXPECTED_READER, THRESHOLD, 4, processes=processes, keep_series=True,
                          annual=True, events=True, **options)
    return [loaded for _, loaded in loader.run(((job.ident, job) for job in jobs), lambda: False)], loader


def same_values(ours, theirs) -> bool:
    if isinstance(ours, float) and isinstance(theirs, float):
        return ours == theirs or (math.isnan(ours) and math.isnan(theirs))
    if isinstance(ours, (list, tuple)) and isinstance(theirs, (list, tuple)):
        return len(ours) == len(theirs) and all(same_values(a, b) for a, b in zip(ours, theirs))
    return type(ours) is type(theirs) and ours == theirs


def assert_same(ours, theirs) -> None:
    for mine, expected in zip(ours, theirs):
        assert (mine.status, mine.error, mine.subsites, mine.plot) == (
            expected.status, expected.error, expected.subsites, expected.plot)
        assert mine.stats.keys() == expected.stats.keys()
        for name, value in expected.stats.items():
            assert same_values(mine.stats[name], value), name
        assert same_values(mine.annual, expected.annual) and same_values(mine.events, expected.events)
        if expected.series is None:
            assert mine.series is None
        else:
            for name in ("time",) + FRACTIONS:
                np.testing.assert_array_equal(getattr(mine.series, name), getattr(expected.series, name))
    assert len(ours) == len(theirs)


@pytest.fixture(scope="module")
def in_threads(jobs):
    return loaded_all(jobs, 0)[0]


def test_processes_measure_every_wetland_as_threads_do(jobs, in_threads):
    """Statistics, comparison with the past, ANNUAL, EVENTS, series, sites, increments and every
    failure's reason are the same, value for value, measured in two processes."""
    ours, loader = loaded_all(jobs, 2)
    assert loader.processes_problem == ""
    measured = [job for job in jobs if job.ident not in ("missing", "none")]  # the others fail downloading
    assert loader.measured_in_processes == len(measured)
    assert_same(ours, in_threads)
    statuses = {job.ident: loaded.status for job, loaded in zip(jobs, ours)}
    assert (statuses["missing"], statuses["broken"], statuses["none"], statuses["site"]) == (
        FAILED, FAILED, NO_RESULT, LOADED)
    assert sum(status == LOADED for status in statuses.values()) == len(sample_uids()) + 2
    reasons = {job.ident: loaded.error for job, loaded in zip(jobs, ours)}
    assert "/vsimem/" not in reasons["broken"]  # GDAL's words, without its file in memory, the same every read
    broken = next(job.location for job in jobs if job.ident == "broken")
    assert reasons["broken first"].startswith("increment 1 of 2 (%s): not a readable parquet file" % broken)
    assert reasons["gone second"].startswith("increment 2 of 2 (")
    assert "wit_regime" in ours[0].stats and ours[0].years is None  # compared in the process


def test_a_process_killed_half_way_costs_no_wetland(jobs, in_threads):
    """The processes killed after the first result: the threads measure the rest, and the run says why."""
    loader = ResultLoader(Fetcher(), EXPECTED_READER, THRESHOLD, 4, processes=2, keep_series=True, annual=True,
                          events=True)
    ours = []
    for _, loaded in loader.run(((job.ident, job) for job in jobs), lambda: False):
        if not ours:
            for process in loader._workers._processes:
                process.kill()
        ours.append(loaded)
    assert_same(ours, in_threads)
    assert re.fullmatch(r"the worker processes stopped \(worker process \d+ ended \((EOFError|BrokenPipeError|"
                        r"ConnectionResetError)\)\)", loader.processes_problem), loader.processes_problem
    assert 0 < loader.measured_in_processes < len(jobs) - 2


def test_processes_that_cannot_start_leave_the_work_to_the_threads(jobs, in_threads, monkeypatch):
    monkeypatch.setattr(processes, "interpreter", lambda windowless=False: None)
    ours, loader = loaded_all(jobs, 2)
    assert_same(ours, in_threads)
    assert loader.processes_problem.startswith("the worker processes did not start: no Python interpreter")
    assert loader.measured_in_processes == 0


def test_a_process_without_the_reader_leaves_the_work_to_the_threads(jobs, in_threads, monkeypatch):
    """The processes' first task checks they can read: where they cannot, no wetland fails for it."""
    monkeypatch.setattr(loader_module, "_warm_up", _no_reader)
    ours, loader = loaded_all(jobs, 2)
    assert_same(ours, in_threads)
    assert loader.processes_problem == "the worker processes stopped (ImportError: no reader here)"
    assert loader.measured_in_processes == 0


def _no_reader(*arguments) -> None:
    raise ImportError("no reader here")


def test_plots_are_written_by_the_processes(jobs, tmp_path):
    """Each plot in the process that measured its wetland, at the path threads would give it."""
    for folder in "pt":
        os.makedirs(tmp_path / folder)
    ours, loader = loaded_all(jobs[:3], 2, plots_dir=str(tmp_path / "p"))
    theirs, _ = loaded_all(jobs[:3], 0, plots_dir=str(tmp_path / "t"))
    assert loader.measured_in_processes == 3
    for mine, expected in zip(ours, theirs):
        assert mine.plot == expected.plot.replace(str(tmp_path / "t"), str(tmp_path / "p"))
        assert os.path.getsize(mine.plot) > 10_000


def test_the_interpreter_is_this_python():
    """What the processes run: this very Python (not the first python3 on PATH), found from its prefix."""
    found = interpreter(windowless=True)
    assert found is not None and os.path.dirname(found) == os.path.join(sys.base_prefix, "bin")
    version = subprocess.run([found, "-c", "import sys; print(sys.version)"], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert version == sys.version


@pytest.mark.parametrize("wetlands, downloads, cores, expected", [
    (MIN_WETLANDS - 1, 8, 2, 0), (MIN_WETLANDS, 8, 2, 2), (300_000, 8, 16, 8), (300_000, 1, 4, 1),
    (300_000, 8, 1, 0)])
def test_how_many_processes(wetlands, downloads, cores, expected, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(processes, "interpreter", lambda windowless=False: sys.executable)
    assert process_count(wetlands, downloads) == expected


def test_no_processes_without_an_interpreter(monkeypatch):
    monkeypatch.setattr(processes, "interpreter", lambda windowless=False: None)
    assert process_count(300_000, 8) == 0


def test_a_cancelled_run_ends_its_processes(jobs, tmp_path):
    """Cancelled after three wetlands, the processes plotting: the run ends, and so does every
    worker process, each after its current plot, so none is left half written."""
    loader = ResultLoader(Fetcher(), EXPECTED_READER, THRESHOLD, 4, tmp_path, processes=2)
    taken, started = [], []
    for _, loaded in loader.run(((job.ident, job) for job in jobs), lambda: len(taken) >= 3):
        started = started or list(loader._workers._processes)
        taken.append(loaded)
    assert len(taken) == 3 and len(started) == 2
    assert not any(process.is_alive() for process in started)
    assert [process.exitcode for process in started] == [0, 0]  # told to end, not terminated
    assert loader.processes_problem == ""
    for plot in tmp_path.glob("*.png"):  # those of wetlands measured when the run was cancelled too
        assert plot.read_bytes().endswith(b"IEND\xaeB`\x82")
