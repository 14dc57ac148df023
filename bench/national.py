"""Load WIT results at national scale: tens of thousands of wetlands, real WIT series in local files.

`python -m bench.national [COUNT ...]` (default 20,000 and 100,000) makes, once, a GeoPackage of
COUNT real wetland outlines (the Canberra sample's 86 DEA waterbodies, EPSG:3577, repeated across
a grid of 10 km steps) whose ``wit_url`` names one of the sample's 101 series written as local
parquet files (INT96 and int64 time in turn), then
runs Load WIT results on it with statistics, ANNUAL (a table) and EVENTS in a process of its own,
as qgis_process would. Prints one line per COUNT: "count seconds cpu_seconds peak_rss_mb
workers workers_rss_mb statistics_mb annual_mb events_mb" (CPU seconds of the QGIS process and
its worker processes; the largest worker's peak RSS; the outputs' file sizes, the outputs removed
then). With ``--outlines`` each COUNT runs twice, side by side: ANNUAL as a table, then with
ANNUAL_OUTLINES (each row its polygon's outline), a last column saying which (0 or 1). With
``--threads`` each COUNT runs twice, side by side: measured in worker processes (what the plugin
does from 500 wetlands up), then in the download threads (workers 0).

`python -m bench.national --tables [COUNT]` (default 2,000) writes TIMESERIES, ANNUAL and EVENTS
besides the statistics, TABLE_ROUNDS times each way, alternating: each table in a GeoPackage of
its own (its rows appended through SQLite) and the three in one GeoPackage (which two writers
cannot share, so QGIS's sinks write every row as a feature). Prints "count layout seconds
cpu_seconds tables_mb" per run, layout ``own`` or ``one``.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import CACHE, ROOT
from bench.history import sample_files

COUNTS = (20_000, 100_000)
TABLE_COUNT, TABLE_ROUNDS = 2_000, 2
TABLES = ("TIMESERIES", "ANNUAL", "EVENTS")


def national_layer(count: int) -> Path:
    """The Canberra sample's wetlands repeated to ``count``, each copy shifted, with a wit_url each
    (made once)."""
    from osgeo import ogr

    path = CACHE / ("national_%d.gpkg" % count)
    if path.exists():
        return path
    files = sample_files()  # the sample's series as local files, bench.history's
    source = ogr.Open("/vsizip/%s" % (ROOT / "tests" / "data" / "waterbodies_canberra.zip"))
    layer_in = source.GetLayer(0)
    outlines = [feature.GetGeometryRef().Clone() for feature in layer_in]
    partial = path.with_suffix(".partial.gpkg")
    partial.unlink(missing_ok=True)
    target = ogr.GetDriverByName("GPKG").CreateDataSource(str(partial))
    layer = target.CreateLayer("wetlands", layer_in.GetSpatialRef(), ogr.wkbMultiPolygon)
    for name in ("UID", "wit_url"):
        layer.CreateField(ogr.FieldDefn(name, ogr.OFTString))
    layer.StartTransaction()
    for index in range(count):
        copy, which = divmod(index, len(outlines))
        geometry = ogr.ForceToMultiPolygon(outlines[which].Clone())
        shift_x, shift_y = 10_000.0 * (copy % 200), -10_000.0 * (copy // 200)
        for part in range(geometry.GetGeometryCount()):
            polygon = geometry.GetGeometryRef(part)
            for ring_index in range(polygon.GetGeometryCount()):
                ring = polygon.GetGeometryRef(ring_index)
                for point in range(ring.GetPointCount()):
                    ring.SetPoint_2D(point, ring.GetX(point) + shift_x, ring.GetY(point) + shift_y)
        out = ogr.Feature(layer.GetLayerDefn())
        out.SetField("UID", "w%07d" % index)
        out.SetField("wit_url", files[index % len(files)])
        out.SetGeometry(geometry)
        layer.CreateFeature(out)
    layer.CommitTransaction()
    target = source = None
    partial.rename(path)
    return path


def run_case(layer: str, count: str, outlines: str = "0", threads: str = "0") -> None:
    """In its own process: the algorithm on ``layer``, then the line ``main`` prints; ``threads`` "1":
    measured in the download threads, as below 500 wetlands."""
    from tools.qgis import processing_session

    app, plugin = processing_session()
    import processing
    from wit_dispatcher.algorithms import load_results

    chosen = []  # the worker processes the run got
    plugin_count = load_results.process_count

    def process_count(*counts: int) -> int:
        chosen.append(0 if threads == "1" else plugin_count(*counts))
        return chosen[-1]

    load_results.process_count = process_count

    outputs = {name: CACHE / ("national_%s_%s.gpkg" % (name.lower(), count)) for name in ("OUTPUT", "ANNUAL", "EVENTS")}
    for path in outputs.values():
        path.unlink(missing_ok=True)
    peaks: dict[int, float] = {}
    ended = threading.Event()
    watcher = threading.Thread(target=_watch_workers, args=(peaks, ended), daemon=True)
    watcher.start()
    began, cpu = time.monotonic(), time.process_time()
    result = processing.run("wit:loadresults", {"INPUT": layer, "ID_FIELD": "UID", "ANNUAL_OUTLINES": outlines == "1",
                                                **{name: str(path) for name, path in outputs.items()}})
    elapsed = time.monotonic() - began
    ended.set()
    watcher.join()
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # the worker processes, ended with the run
    cpu = time.process_time() - cpu + workers.ru_utime + workers.ru_stime
    if result["LOADED"] != int(count):
        raise SystemExit("%d of %s loaded" % (result["LOADED"], count))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sizes = [outputs[name].stat().st_size / 1e6 for name in ("OUTPUT", "ANNUAL", "EVENTS")]
    for path in outputs.values():  # gigabytes at national scale
        path.unlink()
    print("%s %.1f %.1f %.0f %d %.0f %.1f %.1f %.1f%s" % (count, elapsed, cpu, peak_mb, chosen[0],
                                                         max(peaks.values(), default=0), *sizes,
                                                         " " + outlines if outlines == "1" else ""))


def _watch_workers(peaks: dict[int, float], ended: threading.Event) -> None:
    """Each worker process's peak RSS (VmHWM, MB), read every half second until ``ended``: a
    child's ru_maxrss would count the memory of the parent it was forked from."""
    while not ended.wait(0.5):
        for task in Path("/proc/self/task").iterdir():
            for pid in (task / "children").read_text().split():
                try:
                    status = Path("/proc/%s/status" % pid).read_text()
                except OSError:  # ended meanwhile
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        peaks[int(pid)] = max(peaks.get(int(pid), 0), int(line.split()[1]) / 1024)


def run_tables(layer: str, count: str, layout: str) -> None:
    """In its own process: the algorithm with every table, each in a file of its own or all in one."""
    from tools.qgis import processing_session

    app, plugin = processing_session()
    import processing

    folder = CACHE / "national_tables"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    one = folder / "tables.gpkg"
    tables = {name: str(folder / ("%s.gpkg" % name.lower())) if layout == "own" else
              "ogr:dbname='%s' table=\"%s\"" % (one, name.lower()) for name in TABLES}
    began, cpu = time.monotonic(), time.process_time()
    result = processing.run("wit:loadresults", {"INPUT": layer, "ID_FIELD": "UID",
                                                "OUTPUT": str(folder / "statistics.gpkg"), **tables})
    elapsed, cpu = time.monotonic() - began, time.process_time() - cpu
    if result["LOADED"] != int(count):
        raise SystemExit("%d of %s loaded" % (result["LOADED"], count))
    size = sum(path.stat().st_size for path in folder.iterdir() if path.name != "statistics.gpkg") / 1e6
    shutil.rmtree(folder)
    print("%s %s %.1f %.1f %.1f" % (count, layout, elapsed, cpu, size))


def in_own_process(*arguments: str) -> str:
    """The last line ``python -m bench.national ARGUMENTS`` prints, run as qgis_process would: with a
    ``__main__`` that names no file, so worker processes import nothing of the benchmark's."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-c", "import sys, bench.national; bench.national.cli(sys.argv[1:])",
                          *arguments], cwd=ROOT, env=env, capture_output=True, text=True)
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or not lines:
        raise RuntimeError("national case %s failed: %s" % (arguments[0], run.stderr[-2000:]))
    return lines[-1]


def tables_side_by_side(count: int = TABLE_COUNT) -> None:
    layer = national_layer(count)
    for _ in range(TABLE_ROUNDS):
        for layout in ("own", "one"):
            print(in_own_process("tables-run", str(layer), str(count), layout), flush=True)


def main(counts: list[int], outlines: bool = False, threads: bool = False) -> None:
    for count in counts:
        layer = national_layer(count)
        for variant, in_threads in (("0", "0"), ("1", "0")) if outlines else (("0", "0"), ("0", "1")) if threads else (
                ("0", "0"),):
            line = in_own_process("run", str(layer), str(count), variant, in_threads)
            print(line + (" 0" if outlines and variant == "0" else ""), flush=True)


def cli(arguments: list[str]) -> None:
    if arguments[:1] == ["run"]:
        run_case(*arguments[1:5])
    elif arguments[:1] == ["tables-run"]:
        run_tables(*arguments[1:4])
    elif arguments[:1] == ["--tables"]:
        tables_side_by_side(*(int(v) for v in arguments[1:2]))
    else:
        main([int(v) for v in arguments if not v.startswith("--")] or list(COUNTS), "--outlines" in arguments,
             "--threads" in arguments)


if __name__ == "__main__":
    cli(sys.argv[1:])
