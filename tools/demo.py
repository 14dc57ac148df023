"""`make demo`: run wit:dispatchwit with the real qgis_process on the Canberra sample.

Starts the embedded WIT-compatible WPS on 127.0.0.1 unless --wps-url names a real one.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
from pathlib import Path

from .demo_results import count_by, results_store, show_results
from .plugin_files import ROOT
from .qgis import prepare_profile, qgis_process_command, run_to_the_end

SAMPLE = ROOT / "tests" / "data" / "waterbodies_canberra.zip"
WORK = ROOT / "demo-output"  # the demo's profile, local server and default output
JOURNAL_SUFFIX = ".wit-journal.sqlite"
SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def start_clean(output: Path, journal: Path) -> None:
    """Remove what an earlier (perhaps interrupted) demo left, so this one dispatches every job anew.

    A journal left behind would make the run reuse its results instead of sending anything.
    """
    shutil.rmtree(WORK, ignore_errors=True)
    for path in (output, journal):
        for side in SQLITE_SIDE_FILES:
            path.with_name(path.name + side).unlink(missing_ok=True)
    WORK.mkdir()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wps-url", help="a real WIT WPS Execute URL (default: start the local one)")
    parser.add_argument("--input", default=str(SAMPLE))
    parser.add_argument("--output", default=str(WORK / "canberra_wit.gpkg"))
    parser.add_argument("--max-concurrent", default="8")
    parser.add_argument("--job-seconds", type=float, default=1.0, help="job length on the local server")
    args = parser.parse_args()

    output = Path(args.output).resolve()
    journal = output.with_suffix(JOURNAL_SUFFIX)
    start_clean(output, journal)
    server = None
    wps_url = args.wps_url
    store = results_store(WORK, local=not wps_url)
    if not wps_url:
        sys.path.insert(0, str(ROOT / "tests"))
        from wit_server import launch

        server = launch.start(WORK / "server", job_seconds=args.job_seconds, **store.behaviour)
        wps_url = server.wps_url
        print("Started the local WIT server at %s (set WPS_URL=... to use a real one)" % server.base_url)
    try:
        env = prepare_profile(WORK / "qgis-config")
        command = qgis_process_command() + [
            "run", "wit:dispatchwit", "--",
            "INPUT=%s" % args.input, "WPS_URL=%s" % wps_url,
            "START=2010-01-01T00:00:00", "END=2020-01-01T00:00:00",
            "MAX_CONCURRENT=%s" % args.max_concurrent, "OUTPUT=%s" % output, "JOURNAL=%s" % journal]
        print("$", " ".join(command))
        code = run_to_the_end(command, env)
    finally:
        if server is not None:
            server.stop()
    if code != 0:
        print("qgis_process failed with exit code %d" % code)
        return code
    table, counts = count_by(output, "wit_status")
    with sqlite3.connect(output) as db:
        sample = db.execute('SELECT UID, wit_url FROM "%s" LIMIT 3' % table).fetchall()
    print("\nOutput layer: %s" % output)
    print("Statuses: " + ", ".join("%s %d" % row for row in counts))
    for uid, url in sample:
        print("  %s  %s" % (uid, url))
    return show_results(output, env, store)


if __name__ == "__main__":
    sys.exit(main())
