"""`make bench`: every benchmark, side by side in one run, printed as one table.

Phases keep noisy neighbours apart: the 60 s and mixed dispatch cases (mostly waiting)
run beside the memory and preparation measurements; the 1 s case and the client-cost
run, which are sensitive to CPU contention, run after them on a quiet machine.
`python -m bench.run dispatch` runs the dispatch cases alone, `python -m bench.run yearly` the
yearly update through the algorithm alone, `python -m bench.run history` the comparison with the
past (through the algorithm and in the engine), `python -m bench.run sites` the load as sites,
`python -m bench.run report` the WIT report's cost per page and `python -m bench.run readers` GDAL's
Parquet reader against pyarrow (where this machine's GDAL has the driver: the sid root of
`make test-matrix` has it and pyarrow) and `python -m bench.run national` Load WIT results on
20,000 and 100,000 wetlands, the sample's outlines repeated (`python -m bench.national 300000`
by hand).
"""

from __future__ import annotations

import heapq
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from bench.common import CACHE, ROOT, mixed_seconds, start_server
from bench.load_results import COMPARISON_ROUNDS

METRICS_ROW = ("| load results with ANNUAL and EVENTS, 2,000 files from %s, 16 at once | WIT Dispatcher, "
               "with vs without, alternating | %.1f s, %.1f s vs %.1f s, %.1f s = %.2f x | <= 1.2 x |")
METRICS_MEMORY_ROW = ("| load results, memory with every output (statistics, TIMESERIES, ANNUAL, EVENTS) "
                      "| WIT Dispatcher | peak RSS %.0f MB at 200 files, %.0f MB at 2,000 = %.2f x | flat |")
COMPARISON_ROW = ("| load results, 2,000 files over HTTP answering after 20 ms, 16 at once, %d rounds | WIT "
                  "Dispatcher, with vs without the comparison with the past (and its fields), one run each per "
                  "round | median of the rounds' ratios %.3f x (quartiles %.3f-%.3f; CPU %.3f x); summed %.1f s vs "
                  "%.1f s, CPU %.1f s vs %.1f s | <= 1.05 x |")
ENGINE_COMPARISON_ROW = ("| the engine's load of 2,000 local files, one thread (read, statistics) | WIT Dispatcher, "
                         "with vs without the comparison with the past, alternating | %.2f s, %.2f s vs %.2f s, "
                         "%.2f s CPU = %.3f x | - |")
SITES_ROW = ("| load results, 2,000 files over HTTP answering after 20 ms, 16 at once, as 400 sites of 5 "
             "(GROUP_FIELD, the layer in no site's order) vs ungrouped, 5 rounds | WIT Dispatcher | median of the "
             "rounds' ratios %.3f x; summed %.1f s vs %.1f s | <= 1.2 x |")
SITES_MEMORY_ROW = ("| load results as sites, memory with every output | WIT Dispatcher | peak RSS %.0f MB at 200 "
                    "polygons (40 sites), %.0f MB at 2,000 (400 sites) = %.2f x | flat |")
REPORT_ROW = ("| WIT report (wit:report) from Load WIT results' outputs, a summary page and a page per polygon | WIT "
              "Dispatcher | %.2f s/page at %d pages (%.0f s), %.2f s/page at %d pages (%.0f s) = %.2f x per page; "
              "peak RSS %.0f MB, %.0f MB | linear |")
TABLES_ROW = ("| load results with statistics, TIMESERIES, ANNUAL and EVENTS, %s wetlands from local files | WIT "
              "Dispatcher, each table in a GeoPackage of its own (rows appended through SQLite) vs the three in one "
              "GeoPackage (a QGIS feature per row), %d rounds alternating | %s vs %s = %.2f x | - |")
PEER_NAMES = {"ours": "WIT Dispatcher", "notebook": "notebook (aiohttp, fixed 2 s)",
              "owslib": "OWSLib (ASYNC + monitorExecution)"}
# Warm runs after a cold one: (polygons, END) for bench.dispatch_peer; "" keeps the case's own.
WARM_VARIANTS = {"ours, warm": ("", ""), "ours, warm, END a year later": ("", "2021-01-01"),
                 "ours, warm, 16 other polygons": ("canberra-other", "")}
WARM_TARGETS = {"ours, warm, END a year later": "<= 1.02 x, <= 4 requests/job",
                "ours, warm, 16 other polygons": "<= 1.02 x, <= 4 requests/job"}


def python(*arguments: str) -> subprocess.Popen:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", *arguments], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def output_lines(process: subprocess.Popen, at_least: int = 1) -> list[str]:
    """What a benchmark step printed, line by line, once it has ended well."""
    output = process.communicate()[0].strip().splitlines()
    if process.returncode != 0 or len(output) < at_least:
        raise RuntimeError("benchmark step failed: %s" % process.args)
    return output


def last_line(process: subprocess.Popen) -> list[str]:
    return output_lines(process)[-1].split()


def fresh_output(size: int):
    output = CACHE / ("memory_%d.gpkg" % size)
    for stale in CACHE.glob(output.stem + "*"):
        stale.unlink()
    return output


def dispatch_case(name: str, jobs: int, seconds: float, concurrent: int, mixed: bool = False,
                  warm: bool = False) -> dict:
    """Every peer side by side on a new server (ours with a new job-time model), then with
    ``warm`` ours again on the same server from copies of the model the first run saved: the
    same jobs again and, for the Canberra polygons, side by side with it, END a year later and
    16 other polygons (WARM_VARIANTS). Mixed: jobs of 1 s per km² of the squares of
    bench.common.mixed_collections."""
    job_times = CACHE / ("job_times_%s.json" % name)
    job_times.parent.mkdir(parents=True, exist_ok=True)
    job_times.unlink(missing_ok=True)
    server = start_server(seconds, 1.0 if mixed else None)
    polygons = "mixed" if mixed else "canberra"
    arguments = (server.wps_url, str(jobs), str(concurrent), polygons, str(job_times))
    try:
        runs = {peer: python("bench.dispatch_peer", peer, *arguments) for peer in PEER_NAMES}
        results = {peer: [float(v) for v in last_line(run)] for peer, run in runs.items()}
        if warm:
            # Side by side, each from its own copy of the model the cold run saved: the identical
            # rerun and, for the Canberra polygons, the yearly update and a run over other polygons.
            variants = {peer: options for peer, options in WARM_VARIANTS.items() if not mixed or peer == "ours, warm"}
            warm_runs = {}
            for peer, (other_polygons, end) in variants.items():
                model = job_times.with_name("%s_%s.json" % (job_times.stem, peer.replace(", ", "_").replace(" ", "_")))
                shutil.copy(job_times, model)
                warm_runs[peer] = python("bench.dispatch_peer", "ours", server.wps_url, str(jobs), str(concurrent),
                                         other_polygons or polygons, str(model), end)
            results.update({peer: [float(v) for v in last_line(run)] for peer, run in warm_runs.items()})
        return results
    finally:
        server.stop()


def ideal_makespan(jobs: int, seconds: float, concurrent: int, mixed: bool = False) -> float:
    """The makespan of exact job times in input order on ``concurrent`` workers, nothing lost between."""
    times = mixed_seconds(jobs) if mixed else [seconds] * jobs
    ends = [0.0] * concurrent
    for time_ in times:
        heapq.heappush(ends, heapq.heappop(ends) + time_)
    return max(ends)


DISPATCH_CASES = (  # name, jobs, seconds, in flight, mixed, warm, title, target
    ("fast", 200, 1.0, 8, False, False, "200 jobs x 1 s, 8 in flight", "<= 1.08 x ideal, <= 2.5 requests/job"),
    ("slow", 16, 60.0, 8, False, True, "16 jobs x 60 s, 8 in flight",
     "cold <= 1.05 x, <= 10 requests/job; warm <= 1.02 x, <= 5 requests/job"),
    ("mixed", 200, 0.0, 8, True, True, "mixed: 200 jobs of 1 s/km2 (1-60 s), 8 in flight",
     "warm <= 1.05 x, <= 6 requests/job; ETA within 20 % from 10 % on"),
)


def dispatch_rows(results: dict) -> list[str]:
    rows = []
    for name, jobs, seconds, concurrent, mixed, warm, title, target in DISPATCH_CASES:
        ideal = ideal_makespan(jobs, seconds, concurrent, mixed)
        names = dict(PEER_NAMES, ours=PEER_NAMES["ours"] + ", cold" if warm else PEER_NAMES["ours"])
        names.update({peer: PEER_NAMES["ours"] + peer[len("ours"):] for peer in WARM_VARIANTS})
        for peer, figures in results[name].items():
            makespan, polls = figures[:2]
            eta = ""
            if any(v == v for v in figures[2:6]):  # not all NaN: there was an ETA
                shown = ["-" if v != v else "%+.0f" % (100 * v) for v in figures[2:6]]  # NaN: not reported
                eta = "; ETA error at 10/50/90 %%: %s/%s/%s %%, worst 10-90 %%: %s %%" % (
                    *shown[:3], shown[3].lstrip("+"))
            rows.append("| %s | %s | makespan %.1f s = %.3f x ideal %.1f s; %.1f status requests/job%s | %s |" % (
                title, names[peer], makespan, makespan / ideal, ideal, polls / jobs, eta,
                WARM_TARGETS.get(peer, target) if peer.startswith("ours") else ""))
    return rows


def dispatch_cases(*names: str) -> dict:
    """The named dispatch cases at once, each on its own server (they mostly wait)."""
    chosen = [case for case in DISPATCH_CASES if case[0] in names]
    with ThreadPoolExecutor(len(chosen)) as pool:
        futures = {case[0]: pool.submit(dispatch_case, *case[:6]) for case in chosen}
        return {name: future.result() for name, future in futures.items()}


def increments_case() -> tuple[float, float]:
    """(makespan, status requests per job) of the algorithm with 10 yearly increments per polygon."""
    journal = CACHE / "increments.wit-journal.sqlite"
    for stale in CACHE.glob(journal.name + "*"):
        stale.unlink()
    server = start_server(1.0)
    try:
        makespan, jobs = (float(v) for v in last_line(python("bench.increments", server.wps_url)))
        return makespan, server.stats()["status_requests"] / jobs
    finally:
        server.stop()


def yearly_case() -> dict:
    """Through the real algorithm in one QGIS profile: a cold run over 16 Canberra polygons of 60 s
    jobs, then, one after the other on the same server, the identical rerun (a new journal), the
    yearly update (END a year later, the first run's journal) and 16 other polygons: each
    (makespan, status requests per job)."""
    folder = CACHE / "yearly"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "config").mkdir(parents=True)
    server = start_server(60.0)
    runs = {"cold": ("2020-01-01", "first.sqlite", "0"), "warm, the same again": ("2020-01-01", "same.sqlite", "0"),
            "warm, END a year later": ("2021-01-01", "first.sqlite", "0"),
            "warm, 16 other polygons": ("2020-01-01", "other.sqlite", "40")}
    results = {}
    try:
        for name, (end, journal, first) in runs.items():
            before = server.stats()["status_requests"]
            makespan, jobs = (float(v) for v in last_line(python(
                "bench.yearly_update", server.wps_url, end, str(folder / journal), str(folder / "config"), first)))
            results[name] = (makespan, (server.stats()["status_requests"] - before) / jobs)
    finally:
        server.stop()
    return results


def yearly_rows(results: dict) -> list[str]:
    return ["| 16 jobs x 60 s, 8 in flight, through the algorithm in one profile | WIT Dispatcher, %s | makespan "
            "%.1f s = %.3f x ideal 120.0 s; %.1f status requests/job | %s |" % (
                name, makespan, makespan / 120.0, polls, "" if name == "cold" else "<= 1.02 x, <= 4 requests/job")
            for name, (makespan, polls) in results.items()]


def main() -> None:
    began = time.monotonic()
    print("Preparing the generated shapefiles (cached in %s)..." % CACHE, flush=True)
    last_line(python("bench.datasets"))
    memory_server = start_server(0.0)
    rss = {}
    try:
        small, large = (python("bench.memory", memory_server.wps_url, str(CACHE / ("wetlands_%d.zip" % size)),
                               str(fresh_output(size))) for size in (10_000, 100_000))
        rss[10_000] = [float(v) for v in last_line(small)]
        print("Dispatch: 16 jobs of 60 s and 200 mixed jobs, cold then warm, beside the memory run...", flush=True)
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(dispatch_cases, "slow", "mixed")
            print("Preparation: ours and the notebook's on the same file...", flush=True)
            prepare = [float(v) for v in last_line(python("bench.prepare_rates"))]
            rss[100_000] = [float(v) for v in last_line(large)]
            dispatch = waiting.result()
    finally:
        memory_server.stop()
    print("Dispatch: 200 jobs of 1 s...", flush=True)
    dispatch.update(dispatch_cases("fast"))
    print("Dispatch: 86 polygons x 10 increments of 1 s...", flush=True)
    increments = increments_case()
    print("Dispatch through the algorithm: 16 jobs of 60 s, cold, then three warm runs...", flush=True)
    yearly = yearly_case()
    cost = [float(v) for v in last_line(python("bench.client_cost", "2000", "32"))]
    print("Results: 2,000 WIT files from a local S3 server...", flush=True)
    output = output_lines(python("bench.load_results"), 4)
    parallel_s, sequential_s, rss_200, rss_2000, slow_parallel_s, slow_sequential_s = map(float, output[-4].split())
    *side_by_side, rss_all_200, rss_all_2000 = map(float, output[-3].split())
    annual_rows, annual_mb, event_rows, events_mb = map(float, output[-2].split())
    comparison = [float(v) for v in output[-1].split()]
    engine = [float(v) for v in last_line(python("bench.history"))]
    print("Results: 2,000 WIT files as 400 sites...", flush=True)
    sites = [float(v) for v in last_line(python("bench.load_results", "sites"))]
    print("Report: 86 and 500 polygons' pages...", flush=True)
    report = [float(v) for v in last_line(python("bench.report"))]
    readers = last_line(python("bench.parquet_readers"))
    print("Results at national scale: 20,000 and 100,000 wetlands from local files...", flush=True)
    national = national_case()
    tables = tables_case()

    print("\nWIT Dispatcher benchmarks, %s, %s, %d cores, Python %s, %.0f s in all\n" % (
        date.today(), platform.platform(), os.cpu_count(), platform.python_version(), time.monotonic() - began))
    print("| benchmark | peer | figure | target |")
    print("| --- | --- | --- | --- |")
    print("\n".join(dispatch_rows(dispatch)))
    print("\n".join(yearly_rows(yearly)))
    makespan, polls = increments
    print("| 86 polygons x 10 increments x 1 s (860 jobs), 8 in flight, through the algorithm | WIT Dispatcher "
          "| makespan %.1f s = %.2f x ideal 107.5 s; %.1f status requests/job (single jobs above: %.2f x) "
          "| <= 1.25 x ideal |" % (makespan, makespan / 107.5, polls, dispatch["fast"]["ours"][0] / 25.0))
    ours_rate, notebook_rate, count = prepare
    print("| preparation, %d polygons (20-400 vertices) | WIT Dispatcher vs notebook (fiona transform_geom) "
          "| %.0f vs %.0f polygons/s = %.1f x | >= 5 x |" % (count, ours_rate, notebook_rate,
                                                               ours_rate / notebook_rate))
    print("| memory, full dispatch of instant jobs | WIT Dispatcher | peak RSS %.0f MB at 10,000 (%.0f s), "
          "%.0f MB at 100,000 (%.0f s) = %.2f x | <= 1.3 x |" % (
              rss[10_000][0], rss[10_000][1], rss[100_000][0], rss[100_000][1], rss[100_000][0] / rss[10_000][0]))
    print("| client cost, 2,000 instant jobs, 32 in flight | WIT Dispatcher | %.2f ms CPU/job; %d new connections"
          " | <= 5 ms/job |" % (cost[0], cost[1]))
    print("| load results, 2,000 files from local S3 (pyarrow) | WIT Dispatcher, 16 at once vs 1 | %.1f s vs %.1f s = "
          "%.1f x | >= 4 x |" % (parallel_s, sequential_s, sequential_s / parallel_s))
    print("| load results, 2,000 files over HTTP answering after 20 ms | WIT Dispatcher, 16 at once vs 1 | %.1f s vs "
          "%.1f s = %.1f x | >= 4 x |" % (slow_parallel_s, slow_sequential_s, slow_sequential_s / slow_parallel_s))
    print("| load results, memory | WIT Dispatcher | peak RSS %.0f MB at 200 files, %.0f MB at 2,000 = %.2f x "
          "| <= 1.3 x |" % (rss_200, rss_2000, rss_2000 / rss_200))
    for source, (plain_a, plain_b, metrics_a, metrics_b) in (("local S3", side_by_side[:4]),
                                                             ("HTTP answering after 20 ms", side_by_side[4:])):
        print(METRICS_ROW % (source, metrics_a, metrics_b, plain_a, plain_b,
                             (metrics_a + metrics_b) / (plain_a + plain_b)))
    print(METRICS_MEMORY_ROW % (rss_all_200, rss_all_2000, rss_all_2000 / rss_all_200))
    print(comparison_row(comparison))
    print(ENGINE_COMPARISON_ROW % (engine[0], engine[2], engine[1], engine[3],
                                   (engine[0] + engine[2]) / (engine[1] + engine[3])))
    print("\n".join(sites_rows(sites)))
    print(report_row(report))
    print(readers_row(readers))
    print("\n".join(national_rows(national)))
    print(tables_row(tables))
    print("| ANNUAL and EVENTS GeoPackages of 2,000 files | WIT Dispatcher | ANNUAL %d rows, %.1f MB (%.0f bytes/row); "
          "EVENTS %d rows, %.1f MB | - |" % (annual_rows, annual_mb, 1e6 * annual_mb / annual_rows, event_rows,
                                             events_mb))


def report_row(figures: list[float]) -> str:
    pages_a, seconds_a, pages_b, seconds_b, peak_a, peak_b = figures
    per_a, per_b = seconds_a / pages_a, seconds_b / pages_b
    return REPORT_ROW % (per_a, pages_a, seconds_a, per_b, pages_b, seconds_b, per_b / per_a, peak_a, peak_b)


def report_only() -> None:
    began = time.monotonic()
    print("Report: 86 and 500 polygons' pages...", flush=True)
    print_table("report benchmark", began, [report_row([float(v) for v in last_line(python("bench.report"))])])


def sites_rows(figures: list[float]) -> list[str]:
    ungrouped_s, grouped_s, ratio, rss_small, rss_large = figures
    return [SITES_ROW % (ratio, grouped_s, ungrouped_s), SITES_MEMORY_ROW % (rss_small, rss_large,
                                                                           rss_large / rss_small)]


def sites_only() -> None:
    began = time.monotonic()
    print("Results: 2,000 WIT files over HTTP, as 400 sites and ungrouped...", flush=True)
    print_table("sites benchmark", began, sites_rows([float(v) for v in last_line(python("bench.load_results",
                                                                                         "sites"))]))


def readers_row(figures: list[str]) -> str:
    """GDAL's Parquet reader against pyarrow (bench.parquet_readers), where this machine has both."""
    if figures[0] == "-":
        return ("| the sample's 101 series read and merged, GDAL's Parquet reader vs pyarrow | WIT Dispatcher | not "
                "measured: this GDAL has no Parquet driver (`python -m bench.run readers` in make test-matrix's sid "
                "root) | <= 1.2 x |")
    arrow, features, pyarrow, arrow_ratio, features_ratio = map(float, figures)
    return ("| the sample's 101 series read and merged, best of 7, GDAL's Parquet reader vs pyarrow | WIT Dispatcher "
            "| through GDAL's Arrow stream %.1f ms vs %.1f ms = %.2f x; feature by feature (GDAL before 3.6) %.0f ms "
            "= %.1f x | <= 1.2 x |" % (1e3 * arrow, 1e3 * pyarrow, arrow_ratio, 1e3 * features, features_ratio))


def national_case() -> list[list[float]]:
    """bench.national's lines: count, seconds, CPU seconds, peak RSS, worker processes, a worker's peak
    RSS and the three outputs' sizes; 20,000 in worker processes and in threads, then 100,000."""
    lines = output_lines(python("bench.national", "--threads", "20000"), 2)[-2:]
    lines += output_lines(python("bench.national", "100000"))[-1:]
    return [[float(v) for v in line.split()] for line in lines]


def national_rows(cases: list[list[float]]) -> list[str]:
    rows = ["| load results with statistics, ANNUAL (a table) and EVENTS, %d wetlands (the sample's DEA outlines) "
            "from local files, 8 at once, %d worker processes | WIT Dispatcher | %.2f ms/polygon (%.0f s, CPU %.0f s); "
            "peak RSS %.0f MB, each worker process %.0f MB; statistics %.0f MB, ANNUAL %.0f MB (%.1f KB/polygon), "
            "EVENTS %.0f MB | <= 2 ms/polygon, flat |" % (
                count, workers, 1e3 * seconds / count, seconds, cpu, rss, worker_rss, stats_mb, annual_mb,
                1e3 * annual_mb / count, events_mb)
            for count, seconds, cpu, rss, workers, worker_rss, stats_mb, annual_mb, events_mb in cases if workers]
    processes, threads = cases[0], cases[1]
    rows.append("| the same, %d wetlands, measured in worker processes vs in the download threads, side by side | "
                "WIT Dispatcher | %.1f s vs %.1f s = %.2f x (CPU %.0f s vs %.0f s); peak RSS %.0f MB + %d x %.0f MB vs "
                "%.0f MB | - |" % (processes[0], processes[1], threads[1], processes[1] / threads[1], processes[2],
                                   threads[2], processes[3], processes[4], processes[5], threads[3]))
    return rows


def tables_case() -> list[list[str]]:
    """bench.national --tables' lines: count, layout, seconds, CPU seconds, the tables' size."""
    return [line.split() for line in output_lines(python("bench.national", "--tables"))]


def tables_row(runs: list[list[str]]) -> str:
    own, one = ([float(run[2]) for run in runs if run[1] == layout] for layout in ("own", "one"))
    return TABLES_ROW % ("{:,}".format(int(runs[0][0])), len(own), ", ".join("%.1f s" % v for v in own),
                         ", ".join("%.1f s" % v for v in one), sum(own) / sum(one))


def national_only() -> None:
    began = time.monotonic()
    print_table("national-scale benchmark", began, national_rows(national_case()) + [tables_row(tables_case())])


def readers_only() -> None:
    began = time.monotonic()
    print_table("parquet-reader benchmark", began, [readers_row(last_line(python("bench.parquet_readers")))])


def comparison_row(figures: list[float]) -> str:
    without_s, without_cpu, with_s, with_cpu, wall_ratio, cpu_ratio, low, high = figures
    return COMPARISON_ROW % (COMPARISON_ROUNDS, wall_ratio, low, high, cpu_ratio, with_s, without_s, with_cpu,
                             without_cpu)


def print_table(title: str, began: float, rows: list[str]) -> None:
    """One part's rows under the heading and table header every part prints."""
    print("\nWIT Dispatcher %s, %s, %s, %d cores, Python %s, %.0f s in all\n" % (
        title, date.today(), platform.platform(), os.cpu_count(), platform.python_version(), time.monotonic() - began))
    print("| benchmark | peer | figure | target |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))


def dispatch_only() -> None:
    began = time.monotonic()
    print("Dispatch: 16 jobs of 60 s and 200 mixed jobs, cold then warm...", flush=True)
    dispatch = dispatch_cases("slow", "mixed")
    print("Dispatch: 200 jobs of 1 s...", flush=True)
    dispatch.update(dispatch_cases("fast"))
    print_table("dispatch benchmarks", began, dispatch_rows(dispatch))


def yearly_only() -> None:
    began = time.monotonic()
    print("Dispatch through the algorithm: 16 jobs of 60 s, cold, then three warm runs...", flush=True)
    rows = yearly_rows(yearly_case())
    print_table("yearly-update benchmark", began, rows)


def history_only() -> None:
    began = time.monotonic()
    print("Results: 2,000 WIT files over HTTP, with and without the comparison with the past...", flush=True)
    comparison = [float(v) for v in last_line(python("bench.load_results", "comparison"))]
    engine = [float(v) for v in last_line(python("bench.history"))]
    print_table("comparison-with-the-past benchmark", began, [
        comparison_row(comparison),
        ENGINE_COMPARISON_ROW % (engine[0], engine[2], engine[1], engine[3],
                                 (engine[0] + engine[2]) / (engine[1] + engine[3]))])


MODES = {"": main, "dispatch": dispatch_only, "yearly": yearly_only, "history": history_only, "sites": sites_only,
         "report": report_only, "readers": readers_only, "national": national_only}

if __name__ == "__main__":
    mode = sys.argv[1] if sys.argv[1:] else ""
    if mode not in MODES:
        sys.exit("usage: python -m bench.run [dispatch | yearly | history | sites | report | readers | national]")
    MODES[mode]()
