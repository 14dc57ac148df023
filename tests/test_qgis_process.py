"""Headless: the plugin installed into a fresh profile and run by the real qgis_process binary."""

import json
import re
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest
from qgis.core import QgsVectorLayer
from qgis_helpers import DATA_TABLE, lonlat_rings, received_rings, same_rings
from wit_server.fast import FastWit

from tools.qgis import prepare_profile, qgis_process_command

START, END = "2012-03-01T00:00:00", "2019-12-31T00:00:00"


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    return prepare_profile(tmp_path_factory.mktemp("qgis-config"))


def qgis_process(env, *arguments):
    return subprocess.run(qgis_process_command() + list(arguments), env=env, capture_output=True, text=True,
                          timeout=600)


def read_gpkg(path):
    with sqlite3.connect(path) as db:
        table = db.execute(DATA_TABLE).fetchone()[0]
        return db.execute('SELECT UID, wit_url, wit_status, wit_error FROM "%s" ORDER BY fid' % table).fetchall()


def test_plugin_is_listed(profile):
    listing = qgis_process(profile, "list")
    assert "wit:dispatchwit" in listing.stdout


def test_preparing_a_prepared_profile_again_keeps_the_plugin_enabled(profile):
    prepare_profile(Path(profile["QGIS_CUSTOM_CONFIG_PATH"]))  # as a second `make demo` does
    assert "wit:dispatchwit" in qgis_process(profile, "list").stdout


@pytest.mark.slow
def test_canberra_run(qgis_app, profile, fresh_server, canberra_zip, tmp_path):
    server = fresh_server(job_seconds=0.1)
    output = tmp_path / "canberra_wit.gpkg"
    run = qgis_process(profile, "run", "wit:dispatchwit", "--", "INPUT=%s" % canberra_zip,
                       "WPS_URL=%s" % server.wps_url, "START=%s" % START, "END=%s" % END,
                       "MAX_CONCURRENT=6", "OUTPUT=%s" % output)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 running, 86 completed, 0 failed" in run.stdout
    rows = read_gpkg(output)
    assert len(rows) == 86 and {r[2] for r in rows} == {"succeeded"}
    received = {job["url"]: job for job in server.received()}
    assert len(received) == 86
    assert {received[r[1]]["start"] for r in rows} == {START}
    assert {received[r[1]]["end"] for r in rows} == {END}
    source = QgsVectorLayer(str(canberra_zip), "canberra", "ogr")
    for feature, (uid, url, _, _) in zip(source.getFeatures(), rows):
        assert uid == feature["UID"]
        assert same_rings(received_rings(received[url]["geometry"]), lonlat_rings(source, feature))


@pytest.mark.parametrize("arguments, message", [
    (["PROCESS=NOPE"], "does not offer a process 'NOPE'"),
    (["START=2020-01-01T00:00:00", "END=2019-01-01T00:00:00"], "must be after START"),
])
def test_run_level_errors_exit_non_zero(profile, wit_server, canberra_zip, tmp_path, arguments, message):
    run = qgis_process(profile, "run", "wit:dispatchwit", "--", "INPUT=%s" % canberra_zip,
                       "WPS_URL=%s" % wit_server.wps_url, "OUTPUT=%s" % (tmp_path / "out.gpkg"), *arguments)
    assert run.returncode != 0
    assert message in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def test_line_layer_exits_non_zero(profile, wit_server, tmp_path):
    lines = tmp_path / "roads.geojson"
    lines.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
                     '"geometry":{"type":"LineString","coordinates":[[149,-35],[149.1,-35.1]]}}]}')
    run = qgis_process(profile, "run", "wit:dispatchwit", "--", "INPUT=%s" % lines,
                       "WPS_URL=%s" % wit_server.wps_url, "OUTPUT=%s" % (tmp_path / "out.gpkg"))
    assert run.returncode != 0
    assert "has LineString geometries: Dispatch WIT needs a polygon layer" in run.stdout + run.stderr


@pytest.mark.slow
def test_a_second_run_starts_warm_and_says_the_time_left(profile, canberra_zip, tmp_path):
    server = FastWit(job_seconds=0.3)
    threading.Thread(target=server.serve, daemon=True).start()
    try:
        said = []
        for run in (1, 2):
            done = qgis_process(profile, "run", "wit:dispatchwit", "--", "INPUT=%s" % canberra_zip,
                                "WPS_URL=%s&token=secret" % server.wps_url, "START=%s" % START, "END=%s" % END,
                                "MAX_CONCURRENT=8", "OUTPUT=%s" % (tmp_path / ("run%d.gpkg" % run)))
            assert done.returncode == 0, done.stdout + done.stderr
            said.append(done.stdout)
    finally:
        server.server.shutdown()
    key = "http://127.0.0.1:%d WIT" % server.server.server_address[1]
    assert "Job times: none known yet for %s" % key in said[0]
    assert "Job times: learned from 86 earlier jobs on %s" % key in said[1]
    assert re.search(r"\d+ running, \d+ completed, 0 failed; \d+ of 86 polygons complete; about \d+ s left", said[1])
    assert re.search(r"ETA error at 10/50/90 % of the run: [+-]\d+ %, [+-]\d+ %, [+-]\d+ %", said[1])
    text = (Path(profile["QGIS_CUSTOM_CONFIG_PATH"]) / "profiles" / "default" / "wit_dispatcher" /
            "job_times.json").read_text()
    stored = json.loads(text)
    assert key in stored["models"] and "secret" not in text and "token" not in text  # the module's other runs
    # saved models of their own servers; none stores the URL's query
    assert stored["models"][key]["samples"] == 172
