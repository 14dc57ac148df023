"""The WIT report's cost per page: Load WIT results' outputs of 86 and of 500 polygons made into reports.

`python -m bench.report` loads N local WIT files (the sample's 101 series in turn, bench.history's
files) onto N small squares with Load WIT results (statistics, ANNUAL, EVENTS, TIMESERIES), then
times Create WIT report on them in a process of its own (its peak memory is the report's alone). Prints
"pages_86 seconds_86 pages_500 seconds_500 peak_mb_86 peak_mb_500".
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

from bench.common import CACHE, ROOT
from bench.history import sample_files
from bench.load_results import layer_with_results

SIZES = (86, 500)


def outputs_of(size: int) -> dict:
    folder = CACHE / ("report_%d" % size)
    folder.mkdir(parents=True, exist_ok=True)
    return {name: str(folder / ("%s.gpkg" % name.lower())) for name in ("OUTPUT", "ANNUAL", "EVENTS", "TIMESERIES")}


def prepare_size(size: int) -> None:
    """Load WIT results' outputs of ``size`` polygons (a process of its own: its memory is not the report's)."""
    from tools.qgis import processing_session

    app, plugin = processing_session()
    import processing

    paths = sample_files()
    outputs = outputs_of(size)
    for path in outputs.values():
        if os.path.exists(path):
            os.unlink(path)
    layer = layer_with_results(CACHE / ("report_%d" % size) / "wetlands.gpkg", [paths[i % len(paths)]
                                                                                for i in range(size)])
    processing.run("wit:loadresults", {"INPUT": layer, "ID_FIELD": "UID", **outputs})
    print("prepared")


def run_size(size: int) -> None:
    from tools.qgis import processing_session

    app, plugin = processing_session()
    import processing

    outputs = outputs_of(size)
    pdf = CACHE / ("report_%d" % size) / "report.pdf"
    began = time.monotonic()
    result = processing.run("wit:report", {"INPUT": outputs["OUTPUT"], "ANNUAL": outputs["ANNUAL"],
                                           "EVENTS": outputs["EVENTS"], "TIMESERIES": outputs["TIMESERIES"],
                                           "OUTPUT": str(pdf)})
    elapsed = time.monotonic() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("%d %.2f %.1f" % (result["PAGES"], elapsed, peak_mb))


def main() -> None:
    figures = []
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    for size in SIZES:
        for step in ("prepare", "run"):
            run = subprocess.run([sys.executable, "-m", "bench.report", step, str(size)], cwd=ROOT, env=env,
                                 capture_output=True, text=True)
            lines = run.stdout.strip().splitlines()
            if run.returncode != 0 or not lines:
                raise RuntimeError("report case failed: %s" % run.stderr[-2000:])
        figures.append([float(v) for v in lines[-1].split()])
    (pages_a, seconds_a, peak_a), (pages_b, seconds_b, peak_b) = figures
    print("%d %.2f %d %.2f %.1f %.1f" % (pages_a, seconds_a, pages_b, seconds_b, peak_a, peak_b))


if __name__ == "__main__":
    if sys.argv[1:2] == ["prepare"]:
        prepare_size(int(sys.argv[2]))
    elif sys.argv[1:2] == ["run"]:
        run_size(int(sys.argv[2]))
    else:
        main()
