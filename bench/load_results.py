"""wit:loadresults against 2,000 result files on a local S3 server (moto on 127.0.0.1).

`python -m bench.load_results` seeds the files, then runs each case in a fresh process and
prints "parallel_s sequential_s rss_200_mb rss_2000_mb latency_parallel_s latency_sequential_s".
moto answers one request at a time (one Python process), so on loopback it, not the client,
sets the pace; the latency cases read the same files over HTTP from a loopback server that
answers after 20 ms, like S3's time to first byte, to show what the pool overlaps. Speed cases write the statistics
only (the time-series table is the same main-thread work either way); memory cases also
write every observation to TIMESERIES. The metrics cases also write ANNUAL and EVENTS to
GeoPackages (67,981 polygon-years, 31,536 events), run twice each, alternating with the same
load without them, from moto and from the 20 ms HTTP server (where the server does not set
the pace, so the client's own cost shows); their memory case writes every output at once. It
prints a second line: "s3_plain_s s3_plain_s s3_metrics_s s3_metrics_s http_plain_s http_plain_s
http_metrics_s http_metrics_s rss_all_200_mb rss_all_2000_mb", a third: "annual_rows annual_mb
events_rows events_mb" of the 2,000 files' GeoPackages, and a fourth: "without_s without_cpu_s
with_s with_cpu_s wall_ratio cpu_ratio wall_q1 wall_q3", the statistics-only load from the 20 ms server,
COMPARISON_ROUNDS rounds of one run without (nor its fields) and one with the comparison with the
past (bench.history): wall and CPU seconds of the process summed, the median of the rounds'
ratios and the quartiles of the wall ratios (`python -m bench.load_results comparison` prints that line alone;
`python -m bench.load_results sites` prints the sites case, see
``sites_side_by_side``). One case alone: `python -m bench.load_results run LAYER ENDPOINT
MAX_CONCURRENT TIMESERIES(0/1) METRICS(0/1) [COMPARISON(0/1) [GROUPED(0/1)]]`
prints "peak_rss_mb seconds loaded cpu_seconds" (CPU of its worker processes too).
"""

from __future__ import annotations

import http.server
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from bench.common import CACHE, ROOT

FILES = 2000
PARALLEL = 16
LATENCY_SECONDS = 0.02
SITE_SIZE = 5  # polygons per site in the sites case: 2,000 polygons in 400 sites
SITE_ROUNDS = 5  # rounds of the load ungrouped and grouped
COMPARISON_ROUNDS = 20  # rounds of the load without and with the comparison: their ratios' IQR is about 0.15


def layer_with_results(path, uris: list[str], sites: int = 0) -> str:
    """A GeoPackage of small squares near Canberra, one per result URI, in field wit_url; with
    ``sites``, a field SITE putting square i in site i mod ``sites`` (a layer in no site's order)."""
    from osgeo import ogr, osr

    if os.path.exists(path):
        os.unlink(path)
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    crs = osr.SpatialReference()
    crs.ImportFromEPSG(4326)
    layer = dataset.CreateLayer("wetlands", crs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("UID", ogr.OFTString))
    layer.CreateField(ogr.FieldDefn("wit_url", ogr.OFTString))
    if sites:
        layer.CreateField(ogr.FieldDefn("SITE", ogr.OFTString))
    layer.StartTransaction()
    for index, uri in enumerate(uris):
        x, y = 149.0 + (index % 100) * 0.01, -35.5 + (index // 100) * 0.01
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("UID", "w%05d" % index)
        feature.SetField("wit_url", uri)
        if sites:
            feature.SetField("SITE", "site%04d" % (index % sites))
        feature.SetGeometry(ogr.CreateGeometryFromWkt(
            "POLYGON((%f %f,%f %f,%f %f,%f %f,%f %f))" % (x, y, x + 0.005, y, x + 0.005, y + 0.005, x, y + 0.005,
                                                           x, y)))
        layer.CreateFeature(feature)
    layer.CommitTransaction()
    dataset = None
    return str(path)


def slow_http_server(bodies: list[bytes]) -> http.server.ThreadingHTTPServer:
    """Serves /wit/<n>.parquet (the bodies in turn) after LATENCY_SECONDS, many requests at once."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            time.sleep(LATENCY_SECONDS)
            body = bodies[int(self.path.rsplit("/", 1)[-1].split(".")[0]) % len(bodies)]
            # One write: separate header and body segments would add 40 ms of delayed ACK per request.
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def sample_bodies() -> list[bytes]:
    from wit_server.s3 import sample_uids, wit_parquet

    return [wit_parquet(uid, "int96" if i % 2 else "int64") for i, uid in enumerate(sample_uids())]


def seed(server, bodies: list[bytes]) -> list[str]:
    """2,000 real WIT files (the sample's series in turn, INT96 and int64 time) in one bucket."""
    server.client().create_bucket(Bucket="bench-results")
    client = server.client()

    def put(index: int) -> str:
        key = "wit/%05d/%05d.snappy.parquet" % (index, index)
        client.put_object(Bucket="bench-results", Key=key, Body=bodies[index % len(bodies)])
        return "s3://bench-results/" + key

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(put, range(FILES)))


def run_case(layer: str, endpoint: str, max_concurrent: str, timeseries: str, metrics: str,
             comparison: str = "1", grouped: str = "0") -> None:
    from tools.qgis import processing_session

    app, plugin = processing_session()
    import processing
    from wit_dispatcher.algorithms import load_results
    from wit_dispatcher.wit_provider.results import loader

    from bench.history import compare_with_past, measured_in_process

    compare_with_past(loader, comparison == "1")
    loader._measured_in_process = partial(measured_in_process, comparison == "1")  # in worker processes too
    if comparison != "1":  # nor the fields: the statistics layer as it was before them
        load_results._STATS = tuple(name for name in load_results._STATS if name not in load_results.HISTORY_FIELDS)

    name = "%s_%s" % (os.path.basename(layer), max_concurrent)
    parameters = {"INPUT": layer, "ID_FIELD": "UID", "S3_ENDPOINT": "" if endpoint == "-" else endpoint,
                  "MAX_CONCURRENT": int(max_concurrent), "OUTPUT": str(CACHE / ("loaded_%s.gpkg" % name))}
    if grouped == "1":
        parameters["GROUP_FIELD"] = "SITE"
    if timeseries == "1":
        parameters["TIMESERIES"] = str(CACHE / ("series_%s.gpkg" % name))
    if metrics == "1":
        parameters.update(ANNUAL=str(CACHE / ("annual_%s.gpkg" % name)), EVENTS=str(CACHE / ("events_%s.gpkg" % name)))
    began, cpu = time.monotonic(), time.process_time()
    result = processing.run("wit:loadresults", parameters)
    elapsed = time.monotonic() - began
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # worker processes, from 500 wetlands up
    cpu = time.process_time() - cpu + workers.ru_utime + workers.ru_stime
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if ("wit_regime" in output_columns(result["OUTPUT"])) != (comparison == "1"):
        raise RuntimeError("the statistics layer's fields do not match the case (comparison %s)" % comparison)
    print("%.1f %.2f %d %.2f" % (peak_mb, elapsed, result["LOADED"], cpu))


def output_columns(path: str) -> list[str]:
    """The statistics GeoPackage's columns: what the case really wrote."""
    import sqlite3

    with sqlite3.connect(path) as db:
        return [row[1] for row in db.execute('PRAGMA table_info("%s")' % data_table(db))]


def case(layer: str, endpoint: str, max_concurrent: int, files: int, timeseries: bool = False,
         metrics: bool = False, comparison: bool = True, grouped: bool = False) -> list[float]:
    for stale in CACHE.glob("*_%s_%d.gpkg" % (os.path.basename(layer), max_concurrent)):
        stale.unlink()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    # From -c, so that worker processes import nothing of the benchmark's (a __main__ that names no file).
    run = subprocess.run([sys.executable, "-c", "import sys, bench.load_results as b; b.run_case(*sys.argv[1:])",
                          layer, endpoint or "-",
                          str(max_concurrent), "1" if timeseries else "0", "1" if metrics else "0",
                          "1" if comparison else "0", "1" if grouped else "0"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or not lines:
        raise RuntimeError("load case failed: %s" % run.stderr[-2000:])
    peak, seconds, loaded, cpu = (float(v) for v in lines[-1].split())
    if loaded != (files // SITE_SIZE if grouped else files):
        raise RuntimeError("%d of %d files loaded" % (loaded, files))
    return [peak, seconds, cpu]


def main() -> None:
    from wit_server import s3

    CACHE.mkdir(parents=True, exist_ok=True)
    os.environ.update(s3.CREDENTIALS)
    server = s3.start(CACHE / "moto.log")
    bodies = sample_bodies()
    try:
        uris = seed(server, bodies)
        large = layer_with_results(CACHE / "results_2000.gpkg", uris)
        small = layer_with_results(CACHE / "results_200.gpkg", uris[: FILES // 10])
        case(small, server.endpoint, PARALLEL, FILES // 10)  # warm the server and the file caches once
        sequential = case(large, server.endpoint, 1, FILES)
        parallel = case(large, server.endpoint, PARALLEL, FILES)
        rss_small = case(small, server.endpoint, PARALLEL, FILES // 10, timeseries=True)
        rss_large = case(large, server.endpoint, PARALLEL, FILES, timeseries=True)
        side_by_side = [case(large, server.endpoint, PARALLEL, FILES, metrics=metrics)[1]
                        for metrics in (False, True, False, True)]
        rss_all_small = case(small, server.endpoint, PARALLEL, FILES // 10, timeseries=True, metrics=True)
        rss_all_large = case(large, server.endpoint, PARALLEL, FILES, timeseries=True, metrics=True)
    finally:
        server.stop()
    slow = slow_http_server(bodies)
    try:
        base = "http://127.0.0.1:%d/wit/" % slow.server_address[1]
        remote = layer_with_results(CACHE / "results_http_2000.gpkg", [base + "%d.parquet" % i for i in range(FILES)])
        latency_parallel = case(remote, "", PARALLEL, FILES)
        latency_sequential = case(remote, "", 1, FILES)
        remote_side_by_side = [case(remote, "", PARALLEL, FILES, metrics=metrics)[1]
                               for metrics in (False, True, False, True)]
        comparison = comparison_side_by_side(remote)
    finally:
        slow.shutdown()
    print("%.2f %.2f %.1f %.1f %.2f %.2f" % (parallel[1], sequential[1], rss_small[0], rss_large[0],
                                             latency_parallel[1], latency_sequential[1]))
    pairs = [runs[i] for runs in (side_by_side, remote_side_by_side) for i in (0, 2, 1, 3)]
    print(" ".join("%.2f" % v for v in pairs) + " %.1f %.1f" % (rss_all_small[0], rss_all_large[0]))
    print("%d %.1f %d %.1f" % (*table_size("annual", large), *table_size("events", large)))
    print(comparison)


def comparison_side_by_side(remote: str) -> str:
    """"without_s without_cpu_s with_s with_cpu_s wall_ratio cpu_ratio wall_q1 wall_q3": the
    statistics-only load of ``remote`` COMPARISON_ROUNDS times each, alternating without and with
    the comparison, summed; the median of the rounds' with/without ratios, which one run slowed by
    the machine's neighbours does not move; and the quartiles of the wall ratios, their spread."""
    rounds = [alternated(lambda comparison: case(remote, "", PARALLEL, FILES, comparison=comparison)[1:], number)
              for number in range(COMPARISON_ROUNDS)]
    sums = [sum(pair[side][k] for pair in rounds) for side in (0, 1) for k in (0, 1)]
    ratios = [statistics.median(pair[1][k] / pair[0][k] for pair in rounds) for k in (0, 1)]
    quartiles = statistics.quantiles([pair[1][0] / pair[0][0] for pair in rounds], n=4)
    return " ".join("%.2f" % v for v in sums) + " %.4f %.4f %.4f %.4f" % (*ratios, quartiles[0], quartiles[2])


def alternated(run, number: int) -> list:
    """[run(False), run(True)], the one with True first in odd rounds: going second (warm caches, a
    busier neighbour) favours neither."""
    if number % 2:
        second = run(True)
        return [run(False), second]
    return [run(False), run(True)]


def sites_side_by_side() -> str:
    """"ungrouped_s grouped_s wall_ratio rss_200_mb rss_2000_mb": 2,000 polygons from the 20 ms
    server loaded as they are and as 400 sites of 5 (GROUP_FIELD; the layer in no site's order),
    SITE_ROUNDS rounds of one run each, summed, and the median of the rounds' ratios; and the peak
    memory of the grouped load with every output at 200 and at 2,000 polygons."""
    CACHE.mkdir(parents=True, exist_ok=True)
    bodies = sample_bodies()
    slow = slow_http_server(bodies)
    try:
        base = "http://127.0.0.1:%d/wit/" % slow.server_address[1]
        uris = [base + "%d.parquet" % i for i in range(FILES)]
        remote = layer_with_results(CACHE / "results_sites_2000.gpkg", uris, FILES // SITE_SIZE)
        small = layer_with_results(CACHE / "results_sites_200.gpkg", uris[:FILES // 10], FILES // 10 // SITE_SIZE)
        case(remote, "", PARALLEL, FILES)  # warm the caches
        rounds = [alternated(lambda grouped: case(remote, "", PARALLEL, FILES, grouped=grouped)[1], number)
                  for number in range(SITE_ROUNDS)]
        rss_small = case(small, "", PARALLEL, FILES // 10, timeseries=True, metrics=True, grouped=True)[0]
        rss_large = case(remote, "", PARALLEL, FILES, timeseries=True, metrics=True, grouped=True)[0]
    finally:
        slow.shutdown()
    ratio = statistics.median(grouped / ungrouped for ungrouped, grouped in rounds)
    return "%.2f %.2f %.4f %.1f %.1f" % (sum(r[0] for r in rounds), sum(r[1] for r in rounds), ratio, rss_small,
                                         rss_large)


def comparison_only() -> None:
    """The fourth line of ``main`` alone, from the 20 ms server."""
    CACHE.mkdir(parents=True, exist_ok=True)
    bodies = sample_bodies()
    slow = slow_http_server(bodies)
    try:
        base = "http://127.0.0.1:%d/wit/" % slow.server_address[1]
        remote = layer_with_results(CACHE / "results_http_2000.gpkg", [base + "%d.parquet" % i for i in range(FILES)])
        case(remote, "", PARALLEL, FILES)  # warm the caches
        print(comparison_side_by_side(remote))
    finally:
        slow.shutdown()


def data_table(db) -> str:
    """A GeoPackage's one table of features (not its styles)."""
    return db.execute("SELECT table_name FROM gpkg_contents WHERE table_name != 'layer_styles'").fetchone()[0]


def table_size(kind: str, layer: str) -> tuple[int, float]:
    """Rows and MB of the ANNUAL or EVENTS GeoPackage the 16-at-once case wrote for ``layer``."""
    import sqlite3

    path = CACHE / ("%s_%s_%d.gpkg" % (kind, os.path.basename(layer), PARALLEL))
    with sqlite3.connect(path) as db:
        table = data_table(db)
        rows = db.execute('SELECT count(*) FROM "%s"' % table).fetchone()[0]
    return rows, path.stat().st_size / 1e6


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"]:
        run_case(*sys.argv[2:9])
    elif sys.argv[1:2] == ["comparison"]:
        comparison_only()
    elif sys.argv[1:2] == ["sites"]:
        print(sites_side_by_side())
    else:
        main()
