"""`make demo`, second half: load the dispatched results with wit:loadresults and show what WIT found.

With the local WIT server, results go to a local S3-compatible server (moto on 127.0.0.1),
which the server writes real WIT parquet into. pyarrow reaches QGIS's Python the way the
plugin tells a user to install it: ``pip install --no-deps --target <profile>/python``.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from wit_provider.results.history import HISTORY_FIELDS, summary

from .plugin_files import ROOT
from .qgis import qgis_process_command, run_to_the_end

QGIS_PYTHON = "/usr/bin/python3"  # Debian's, the one QGIS embeds
WHEELS = ROOT / "build" / "wheels"
SHOWN = 3


@dataclass
class ResultStore:
    """Where the demo's results live: a local S3 server's endpoint, or AWS (empty)."""

    endpoint: str = ""
    behaviour: dict = field(default_factory=dict)


def results_store(work: Path, local: bool) -> ResultStore:
    """Start moto's S3 server for the local WIT server (stopped when the demo exits)."""
    if not local:
        return ResultStore()
    sys.path.insert(0, str(ROOT / "tests"))
    from wit_server import s3

    os.environ.update(s3.CREDENTIALS)  # moto accepts any; GDAL and boto3 read them from the environment
    server = s3.start(work / "moto.log")
    atexit.register(server.stop)
    print("Started a local S3 server for the results at %s" % server.endpoint)
    return ResultStore(server.endpoint, {"s3_endpoint": server.endpoint, "s3_bucket": "dea-public-data-dev"})


def pyarrow_wheel() -> Path:
    """pyarrow's wheel for QGIS's Python (this one), downloaded once into build/wheels: the release the
    plugin's message names for this NumPy, for this Python's version (roots of the test matrix share
    the folder)."""
    from wit_provider.results.table import pyarrow_requirement

    tag = "cp%d%d" % sys.version_info[:2]
    numpy_major = int(__import__("numpy").__version__.split(".")[0])
    WHEELS.mkdir(parents=True, exist_ok=True)
    # One download at a time (parallel test workers, the matrix's roots): none sees a half-written wheel.
    with open(WHEELS / ".pyarrow.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for _ in range(2):
            wheels = [w for w in WHEELS.glob("pyarrow-*-%s-*.whl" % tag)
                      if numpy_major >= 2 or int(w.name.split("-")[1].split(".")[0]) < 26]
            if wheels:
                return sorted(wheels)[-1]
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                            "--no-deps", "--only-binary=:all:", "-d", str(WHEELS), pyarrow_requirement()], check=True)
    raise RuntimeError("pip downloaded no pyarrow wheel for %s into %s" % (tag, WHEELS))


def install_pyarrow(profile: Path) -> None:
    """pyarrow into the profile's python folder, as the plugin tells a user to (without QGIS's NumPy)."""
    target = profile / "python"
    if (target / "pyarrow").is_dir():
        return
    command = [QGIS_PYTHON, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(pyarrow_wheel())]
    print("$", " ".join(command))
    subprocess.run(command, check=True)


def count_by(gpkg: Path, field: str) -> tuple[str, list]:
    """The GeoPackage's feature table and its (value, count) rows of ``field``: what a step printed."""
    with sqlite3.connect(gpkg) as db:
        table = db.execute("SELECT table_name FROM gpkg_contents WHERE data_type='features'").fetchone()[0]
        return table, db.execute('SELECT "%s", count(*) FROM "%s" GROUP BY 1 ORDER BY 1' % (field, table)).fetchall()


def show_results(dispatched: Path, env: dict, store: ResultStore) -> int:
    """Run wit:loadresults on the dispatch output and print a few polygons' statistics and plots."""
    work = dispatched.parent
    install_pyarrow(Path(env["QGIS_CUSTOM_CONFIG_PATH"]) / "profiles" / "default")
    output = work / (dispatched.stem + "_results.gpkg")
    output.unlink(missing_ok=True)
    command = qgis_process_command() + [
        "run", "wit:loadresults", "--", "INPUT=%s" % dispatched, "ID_FIELD=UID",
        "OUTPUT=%s" % output, "PLOTS=%s" % (work / "plots"), "TIMESERIES=%s" % (work / "timeseries.gpkg"),
        "ANNUAL=%s" % (work / "annual.gpkg"), "EVENTS=%s" % (work / "events.gpkg")]
    if store.endpoint:
        command.append("S3_ENDPOINT=%s" % store.endpoint)
    print("\n$", " ".join(command))
    code = run_to_the_end(command, env)
    if code != 0:
        print("qgis_process failed with exit code %d" % code)
        return code
    table, counts = count_by(output, "wit_load_status")
    with sqlite3.connect(output) as db:
        columns = ("UID, wit_obs, wit_first, wit_last, wit_wet_pct, wit_max_wet_ha, wit_events, "
                   "wit_longest_event_days, wit_last_wet, wit_plot, " + ", ".join(HISTORY_FIELDS))
        rows = db.execute('SELECT %s FROM "%s" WHERE wit_load_status = \'loaded\' ORDER BY wit_wet_pct DESC LIMIT %d'
                          % (columns, table, SHOWN)).fetchall()
    print("\nResults layer: %s" % output)
    print("Load statuses: " + ", ".join("%s %d" % row for row in counts))
    print("The %d wettest polygons:" % len(rows))
    for uid, obs, first, last, wet_pct, max_ha, events, longest, last_wet, plot, *past in rows:
        print("  %s: %d observations %s to %s; wet %.1f %% of them; at most %.2f ha wet; %d wet events, "
              "longest %d days; last wet %s\n    against its past: %s\n    plot: %s" % (
                  uid, obs, first, last, wet_pct, max_ha, events, longest, last_wet or "never",
                  summary(dict(zip(HISTORY_FIELDS, past))), plot))
    if rows:
        show_metrics(rows[0][0], work / "annual.gpkg", work / "events.gpkg")
    return write_report(output, env)


def write_report(statistics: Path, env: dict) -> int:
    """Run wit:report on the results: a summary page and a page per polygon, in demo-output/wit_report.pdf."""
    work = statistics.parent
    pdf = work / "wit_report.pdf"
    command = qgis_process_command() + [
        "run", "wit:report", "--", "INPUT=%s" % statistics, "ANNUAL=%s" % (work / "annual.gpkg"),
        "EVENTS=%s" % (work / "events.gpkg"), "TIMESERIES=%s" % (work / "timeseries.gpkg"), "OUTPUT=%s" % pdf]
    print("\n$", " ".join(command))
    code = run_to_the_end(command, env)
    if code != 0:
        print("qgis_process failed with exit code %d" % code)
        return code
    print("\nWIT report: %s (%d pages: the run's summary, then a page per polygon)" % (pdf, pdf_pages(pdf)))
    return 0


def pdf_pages(pdf: Path) -> int:
    """The PDF's page count, as pdfinfo (poppler-utils, a `make deps` package) reads it."""
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)$", info, re.M).group(1))


def show_metrics(uid: str, annual: Path, events: Path) -> None:
    """The wettest polygon's wettest year (highest mean water + wet) and longest inundation event."""
    with sqlite3.connect(annual) as db:
        table = db.execute("SELECT table_name FROM gpkg_contents WHERE table_name != 'layer_styles'").fetchone()[0]
        years = db.execute('SELECT count(*) FROM "%s"' % table).fetchone()[0]
        year, obs, mean, peak, n75 = db.execute(
            'SELECT year, obs, wetw_mean, wetw_max, wetw_n75 FROM "%s" WHERE id = ? ORDER BY wetw_mean DESC, year '
            'LIMIT 1' % table, (uid,)).fetchone()
    with sqlite3.connect(events) as db:
        table = db.execute("SELECT table_name FROM gpkg_contents WHERE table_name != 'layer_styles'").fetchone()[0]
        count = db.execute('SELECT count(*) FROM "%s"' % table).fetchone()[0]
        longest = db.execute('SELECT start, "end", duration_days, max_wet_ha FROM "%s" WHERE id = ? '
                             'ORDER BY duration_days DESC, start LIMIT 1' % table, (uid,)).fetchone()
    print("\nAnnual metrics: %s (%d wetland-years); inundation events: %s (%d events)" % (annual, years, events,
                                                                                         count))
    print("  %s's wettest year: %d, water + wet %.1f %% on average over %d observations, at most %.1f %%, "
          "%d observations at 75 %% or more" % (uid, year, 100 * mean, obs, 100 * peak, n75))
    if longest:
        print("  %s's longest event: %s to %s, %d days, at most %.2f ha wet" % (uid, *longest))
    else:
        print("  %s had no inundation event" % uid)
