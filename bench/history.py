"""The cost of the comparison with the past: 2,000 WIT files loaded with it and without it.

`python -m bench.history` writes the sample's 101 series (INT96 and int64 time in turn) once as
local files, then loads 2,000 of them through the engine's ``ResultLoader.load`` (read, merge,
statistics, the comparison) in one thread, four times, alternating with and without the
comparison (``histories`` replaced by one that gives no fields: the years stay, since each year's
peak is made of them too). Prints "with_s without_s with_s without_s" (CPU seconds of each pass).
"""

from __future__ import annotations

import importlib
import time

from bench.common import CACHE

FILES = 2000


def sample_files() -> list[str]:
    from wit_server.s3 import sample_uids, wit_parquet

    folder = CACHE / "history"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, uid in enumerate(sample_uids()):
        path = folder / ("%s_%d.parquet" % (uid, index % 2))
        if not path.exists():
            path.write_bytes(wit_parquet(uid, "int96" if index % 2 else "int64"))
        paths.append(str(path))
    return paths


def compare_with_past(module, comparison: bool) -> None:
    """Let the loader ``module`` compute the comparison with the past, or skip it (its regime, trend
    and standing; the years stay, each year's peak is made of them too)."""
    history = importlib.import_module(module.__package__ + ".history")  # the loader's own copy
    module.histories = history.histories if comparison else (lambda records: [_NoPast()] * len(records))


class _NoPast:
    """The comparison skipped: no fields."""

    @staticmethod
    def fields() -> dict:
        return {}


def measured_in_process(comparison: bool, measures, job, downloaded):
    """A worker process's part of one wetland with the comparison made or skipped as
    ``compare_with_past`` sets it in the QGIS process: the switch carried into each process."""
    module = importlib.import_module(type(measures).__module__)  # the loader the QGIS process uses
    compare_with_past(module, comparison)
    return module._measured_in_process(measures, job, downloaded)


def one_pass(paths: list[str], comparison: bool) -> float:
    from wit_provider.results import loader as module
    from wit_provider.results.fetch import Fetcher

    compare_with_past(module, comparison)
    loader = module.ResultLoader(Fetcher(), "pyarrow", 0.01, 1)
    began = time.process_time()
    for index in range(FILES):
        loaded = loader.load(module.LoadJob(str(index), paths[index % len(paths)], 1.0))
        assert loaded.status == module.LOADED and ("wit_regime" in loaded.stats) == comparison, loaded.error
    return time.process_time() - began


def main() -> None:
    paths = sample_files()
    one_pass(paths, True)  # warm the page cache and the imports
    print(" ".join("%.3f" % one_pass(paths, comparison) for comparison in (True, False, True, False)))


if __name__ == "__main__":
    main()
