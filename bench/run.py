"""`make bench`: every benchmark, side by side in one run, printed as one table.

Phases keep noisy neighbours apart: the 60 s dispatch case (mostly waiting) runs beside
the memory and preparation measurements; the 1 s case and the client-cost run, which
are sensitive to CPU contention, run after them on a quiet machine.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import date

from bench.common import CACHE, ROOT, start_server

PEER_NAMES = {"ours": "WIT Dispatcher", "notebook": "notebook (aiohttp, fixed 2 s)",
              "owslib": "OWSLib (ASYNC + monitorExecution)"}


def python(*arguments: str) -> subprocess.Popen:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", *arguments], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def last_line(process: subprocess.Popen) -> list[str]:
    output = process.communicate()[0].strip().splitlines()
    if process.returncode != 0 or not output:
        raise RuntimeError("benchmark step failed: %s" % process.args)
    return output[-1].split()


def fresh_output(size: int):
    output = CACHE / ("memory_%d.gpkg" % size)
    for stale in CACHE.glob(output.stem + "*"):
        stale.unlink()
    return output


def dispatch_case(jobs: int, seconds: float, concurrent: int) -> dict:
    server = start_server(seconds)
    try:
        runs = {peer: python("bench.dispatch_peer", peer, server.wps_url, str(jobs), str(concurrent))
                for peer in PEER_NAMES}
        return {peer: [float(v) for v in last_line(run)] for peer, run in runs.items()}
    finally:
        server.stop()


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
        print("Dispatch: 16 jobs of 60 s beside the memory run...", flush=True)
        slow = dispatch_case(16, 60, 8)
        print("Preparation: ours and the notebook's on the same file...", flush=True)
        prepare = [float(v) for v in last_line(python("bench.prepare_rates"))]
        rss[100_000] = [float(v) for v in last_line(large)]
    finally:
        memory_server.stop()
    print("Dispatch: 200 jobs of 1 s...", flush=True)
    fast = dispatch_case(200, 1, 8)
    print("Dispatch: 86 polygons x 10 increments of 1 s...", flush=True)
    increments = increments_case()
    cost = [float(v) for v in last_line(python("bench.client_cost", "2000", "32"))]
    print("Results: 2,000 WIT files from a local S3 server...", flush=True)
    parallel_s, sequential_s, rss_200, rss_2000, slow_parallel_s, slow_sequential_s = (
        float(v) for v in last_line(python("bench.load_results")))

    print("\nWIT Dispatcher benchmarks, %s, %s, %d cores, Python %s, %.0f s in all\n" % (
        date.today(), platform.platform(), os.cpu_count(), platform.python_version(), time.monotonic() - began))
    print("| benchmark | peer | figure | target |")
    print("| --- | --- | --- | --- |")
    for title, results, ideal, target in (("200 jobs x 1 s, 8 in flight", fast, 25.0, "<= 1.25 x ideal"),
                                          ("16 jobs x 60 s, 8 in flight", slow, 120.0,
                                           "<= 1.10 x ideal, <= 12 polls/job")):
        jobs = 200 if ideal == 25.0 else 16
        for peer, (makespan, polls) in results.items():
            print("| %s | %s | makespan %.1f s = %.2f x ideal %.0f s; %.1f status requests/job | %s |" % (
                title, PEER_NAMES[peer], makespan, makespan / ideal, ideal, polls / jobs,
                target if peer == "ours" else ""))
    makespan, polls = increments
    print("| 86 polygons x 10 increments x 1 s (860 jobs), 8 in flight, through the algorithm | WIT Dispatcher "
          "| makespan %.1f s = %.2f x ideal 107.5 s; %.1f status requests/job (single jobs above: %.2f x) "
          "| <= 1.25 x ideal |" % (makespan, makespan / 107.5, polls, fast["ours"][0] / 25.0))
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


if __name__ == "__main__":
    main()
