"""Time increments end to end: qgis_process on Canberra, a yearly-style rerun, a failing increment."""

import collections
import json
import re
import sqlite3
import subprocess

import pytest
from qgis.core import QgsVectorLayer
from qgis_helpers import DATA_TABLE, lonlat_rings, received_rings, same_rings
from test_algorithm import dispatch, rows
from test_network import lakes
from test_qgis_process import read_gpkg

from tools.qgis import prepare_profile, qgis_process_command

FIRST = [("2010-01-01T00:00:00", "2012-01-01T00:00:00"), ("2012-01-01T00:00:00", "2014-01-01T00:00:00"),
         ("2014-01-01T00:00:00", "2015-01-01T00:00:00")]


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    return prepare_profile(tmp_path_factory.mktemp("qgis-config"))


def run(env, *arguments):
    done = subprocess.run(qgis_process_command() + ["run", "wit:dispatchwit", "--", *arguments], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def read_jobs(path):
    with sqlite3.connect(path) as db:
        table = db.execute(DATA_TABLE).fetchone()[0]
        return db.execute('SELECT feature, start, "end", status, url, reused FROM "%s" ORDER BY fid' % table).fetchall()


@pytest.mark.slow
def test_canberra_in_increments_then_a_later_end(profile, fresh_server, canberra_zip, tmp_path):
    server = fresh_server(job_seconds=0.05)
    output, jobs = tmp_path / "out.gpkg", tmp_path / "jobs.gpkg"
    common = ["INPUT=%s" % canberra_zip, "WPS_URL=%s" % server.wps_url, "START=2010-01-01T00:00:00",
              "INCREMENT_YEARS=2", "MAX_CONCURRENT=8", "OUTPUT=%s" % output, "JOBS=%s" % jobs]
    stdout = run(profile, *common, "END=2015-01-01T00:00:00")
    received = server.received()
    assert len(received) == 258
    assert collections.Counter((job["start"], job["end"]) for job in received) == {period: 86 for period in FIRST}
    assert "Summary: 86 succeeded, 0 failed, 0 skipped, 0 timeout, 0 cancelled (258 jobs: 258 succeeded)" in stdout
    assert "; 86 of 86 polygons complete" in stdout
    by_url = {job["url"]: job for job in received}
    source = QgsVectorLayer(str(canberra_zip), "canberra", "ogr")
    for feature, (uid, url, status, _) in zip(source.getFeatures(), read_gpkg(output)):
        assert uid == feature["UID"]
        assert status == "succeeded"
        parts = [by_url[u] for u in json.loads(url)]
        assert [(p["start"], p["end"]) for p in parts] == FIRST  # that polygon's three URIs, in time order
        for part in parts:
            assert same_rings(received_rings(part["geometry"]), lonlat_rings(source, feature))
    table = read_jobs(jobs)
    assert len(table) == 258 and [row[0] for row in table[:4]] == [0, 0, 0, 1]
    assert {row[3] for row in table} == {"succeeded"} and not any(row[5] for row in table)

    later = run(profile, *common, "END=2016-06-01T00:00:00")
    new = server.received()[258:]
    # 2016 is divisible by 2, so [2014, 2016) and [2016, 2016-06-01) replace [2014, 2015): the earlier two are kept.
    assert collections.Counter((job["start"], job["end"]) for job in new) == {
        ("2014-01-01T00:00:00", "2016-01-01T00:00:00"): 86, ("2016-01-01T00:00:00", "2016-06-01T00:00:00"): 86}
    assert re.search(r"REUSED:\s+172\b", later)
    table = read_jobs(jobs)
    assert len(table) == 344 and sum(1 for row in table if row[5]) == 172
    assert len({job["uuid"] for job in server.received()}) == len(server.received())
    keys = collections.Counter((json.dumps(job["geometry"]), job["start"], job["end"]) for job in server.received())
    assert set(keys.values()) == {1}  # no job submitted twice


def test_a_failing_increment_fails_its_polygon_and_only_it_is_retried(qgis_app, fresh_server, tmp_path):
    server = fresh_server(job_seconds=0.05, fail_starts=[[149.0999, -35.0001, 149.1001, -34.9999,
                                                          "2012-01-01T00:00:00"]])
    layer = lakes(3)
    journal = str(tmp_path / "j.sqlite")
    options = dict(START="2010-01-01T00:00:00", END="2015-01-01T00:00:00", INCREMENT_YEARS=2, JOURNAL=journal)
    first = dispatch(layer, server.wps_url, **options)
    out = {r["name"]: r for r in rows(first["OUTPUT"])}
    assert [out[n]["wit_status"] for n in ("lake0", "lake1", "lake2")] == ["succeeded", "failed", "succeeded"]
    assert out["lake1"]["wit_error"] == ("2012-01-01 to 2014-01-01 failed: NoApplicableCode: Process error: "
                                         "no data for this period")
    assert len(json.loads(out["lake1"]["wit_url"])) == 2 and first["FAILED"] == 1
    assert len(server.received()) == 9
    server.set_behaviour(job_seconds=0.05)
    again = dispatch(layer, server.wps_url, RETRY_FAILED=True, **options)
    retried = server.received()[9:]
    assert [(job["start"], job["end"]) for job in retried] == [FIRST[1]]
    assert again["SUCCEEDED"] == 3 and again["REUSED"] == 8
