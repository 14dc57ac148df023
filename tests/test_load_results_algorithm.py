"""wit:loadresults in QGIS: processing.run in this process, and dispatch → load with the real qgis_process."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
from datetime import date
from pathlib import Path

import numpy
import pandas as pd
import pytest
from conftest import ARTIFACTS, EXPECTED_READER, WIT_SAMPLE
from desktop_session import run_driver
from osgeo import gdal, ogr
from pdf_pages import page_texts, pdf_pages
from qgis_helpers import DATA_TABLE
from test_history import assert_same as assert_same_history
from test_history import expected_history
from test_load_results import THRESHOLD, assert_same_statistics, pandas_statistics
from test_sites import frame_of, pandas_site
from test_wit_metrics import pandas_annual, pandas_events
from wit_server.s3 import sample_uids as wit_sample_uids
from wit_server.s3 import wit_parquet

from tools.qgis import prepare_profile, qgis_process_command
from wit_provider.results.history import HISTORY_FIELDS
from wit_provider.results.processes import MIN_WETLANDS

STAT_NAMES = list(pandas_statistics(pd.DataFrame({"time": pd.to_datetime(["2000-01-01"]), **{
    n: [0.0] for n in ("water", "wet", "pv", "npv", "bs")}}), THRESHOLD, 1.0))


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.read_parquet(WIT_SAMPLE)


def canberra_layer(canberra_zip, urls: list):
    """The first Canberra polygons (EPSG:3577) with a UID and the given wit_url values."""
    from qgis.core import QgsFeature, QgsVectorLayer

    source = QgsVectorLayer(str(canberra_zip), "canberra", "ogr")
    layer = QgsVectorLayer("MultiPolygon?crs=EPSG:3577&field=UID:string&field=wit_url:string(0)", "wit", "memory")
    features = []
    for url, feature in zip(urls, source.getFeatures()):
        out = QgsFeature(layer.fields())
        out.setGeometry(feature.geometry())
        out.setAttributes([feature["UID"], url])
        features.append(out)
    layer.dataProvider().addFeatures(features)
    return layer


def read_table(path, columns: str, table: str | None = None) -> list:
    with sqlite3.connect(path) as db:
        table = table or db.execute(DATA_TABLE).fetchone()[0]
        return db.execute('SELECT %s FROM "%s" ORDER BY fid' % (columns, table)).fetchall()


ANNUAL_COLUMNS = list(pandas_annual(pd.DataFrame({"time": pd.to_datetime(["2000-01-01"]), **{
    n: [0.0] for n in ("water", "wet", "pv", "npv", "bs")}}))[0])
EVENT_COLUMNS = ["event", "start", "end", "duration_days", "gap_days", "max_wet", "mean_wet", "max_wet_ha",
                 "mean_wet_ha"]


def assert_metrics_written(annual_path, events_path, expected: dict, loaded: set | None = None) -> None:
    """Every ANNUAL and EVENTS row of a GeoPackage against pandas; ``expected``: id → (frame, area_ha).
    Polygons not in ``loaded`` (default: those of ``expected``; failed, no result) have no rows."""
    annual = read_table(annual_path, "id, start, \"end\", " + ", ".join('"%s"' % c for c in ANNUAL_COLUMNS))
    events = read_table(events_path, "id, " + ", ".join('"%s"' % c for c in EVENT_COLUMNS))
    loaded = set(expected) if loaded is None else loaded
    assert {row[0] for row in annual} == loaded
    assert {row[0] for row in events} <= loaded
    for ident, (frame, area_ha) in expected.items():
        ours = [dict(zip(ANNUAL_COLUMNS, row[3:])) for row in annual if row[0] == ident]
        assert_same_rows(ours, pandas_annual(frame))
        assert [(row[1], row[2]) for row in annual if row[0] == ident] == [
            ("%d-01-01" % r["year"], "%d-01-01" % (r["year"] + 1)) for r in ours]
        theirs = pandas_events(frame, THRESHOLD, area_ha)
        for event in theirs:
            event.update(start=event["start"].isoformat(), end=event["end"].isoformat())  # GeoPackage dates
        assert_same_rows([dict(zip(EVENT_COLUMNS, row[1:])) for row in events if row[0] == ident], theirs)


def assert_same_rows(ours: list[dict], expected: list[dict]) -> None:
    assert len(ours) == len(expected)
    for mine, theirs in zip(ours, expected):
        for name, value in theirs.items():
            assert mine[name] == (pytest.approx(value, rel=1e-9) if isinstance(value, float) else value), name


def test_every_case_in_one_run(qgis_app, s3_server, canberra_zip, sample, tmp_path):
    import processing

    good = s3_server.put("results", "wit/149.snappy.parquet", wit_parquet("149", "int96"))
    modern = s3_server.put("results", "wit/16.snappy.parquet", wit_parquet("16", "int64"))
    dry = s3_server.put("results", "wit/dry.snappy.parquet", wit_parquet("2", dry=True))
    corrupt = s3_server.put("results", "wit/corrupt.snappy.parquet", b"not parquet at all")
    frame = sample[sample.XXX_UID == "150"].drop(columns="XXX_UID")
    half = len(frame) // 2
    early = s3_server.put("results", "wit/150a.parquet", frame.iloc[: half + 5].to_parquet(index=False))
    late = s3_server.put("results", "wit/150b.parquet", frame.iloc[half:].to_parquet(index=False))
    private = s3_server.put("private-results", "wit/x.snappy.parquet", wit_parquet("7"))
    s3_server.deny_reads("private-results")
    urls = [good, modern, "s3://results/wit/missing.parquet", private, "", None, corrupt,
            json.dumps([early, late]), dry]
    layer = canberra_layer(canberra_zip, urls)
    output, series = tmp_path / "stats.gpkg", tmp_path / "series.gpkg"
    annual, events = tmp_path / "annual.gpkg", tmp_path / "events.gpkg"
    result = processing.run("wit:loadresults", {
        "INPUT": layer, "ID_FIELD": "UID", "S3_ENDPOINT": s3_server.endpoint, "MAX_CONCURRENT": 3,
        "OUTPUT": str(output), "TIMESERIES": str(series), "PLOTS": str(tmp_path / "plots"),
        "ANNUAL": str(annual), "ANNUAL_OUTLINES": True, "EVENTS": str(events)})
    assert (result["LOADED"], result["FAILED"], result["NO_RESULT"]) == (4, 3, 2)

    assert [uid for uid, wit_id in read_table(output, "UID, wit_id") if uid != wit_id] == []  # the tables' name
    rows = read_table(output, "UID, " + ", ".join(STAT_NAMES) + ", wit_load_status, wit_load_error, wit_plot")
    by_uid = {row[0]: dict(zip(["UID"] + STAT_NAMES + ["status", "error", "plot"], row)) for row in rows}
    uids = [row[0] for row in rows]
    areas = {f["UID"]: f.geometry().area() / 10_000 for f in layer.getFeatures()}  # Albers is equal-area
    expected_frames = {0: sample[sample.XXX_UID == "149"], 1: sample[sample.XXX_UID == "16"], 7: frame}
    for index, expected_frame in expected_frames.items():
        row = by_uid[uids[index]]
        assert row["status"] == "loaded" and row["error"] is None
        expected = pandas_statistics(expected_frame, THRESHOLD, areas[uids[index]])
        ours = {name: date.fromisoformat(row[name]) if name in ("wit_first", "wit_last", "wit_last_wet")
                and row[name] else row[name] for name in STAT_NAMES}
        ours["wit_max_wet_ha"] = pytest.approx(expected["wit_max_wet_ha"], rel=1e-3)
        assert_same_statistics(ours, expected)
    assert by_uid[uids[2]]["status"] == "failed"
    assert by_uid[uids[2]]["error"] == "404 Not Found: no object at s3://results/wit/missing.parquet"
    assert by_uid[uids[3]]["error"].startswith("403 Forbidden: the bucket needs credentials")
    assert [by_uid[uids[i]]["status"] for i in (4, 5)] == ["no result", "no result"]
    assert by_uid[uids[4]]["wit_obs"] is None and by_uid[uids[4]]["error"] is None
    assert by_uid[uids[6]]["error"].startswith("not a readable parquet file")
    history = {row[0]: dict(zip(HISTORY_FIELDS, row[1:])) for row in read_table(output, "UID, " + ", ".join(
        HISTORY_FIELDS))}
    for index in (2, 3, 4, 5, 6):  # failed or no result: NULL, never zero
        assert set(history[uids[index]].values()) == {None}, uids[index]
    for index, expected_frame in expected_frames.items():
        assert_same_history(history[uids[index]], expected_history(expected_frame))
    assert (history[uids[8]]["wit_regime"], history[uids[8]]["wit_trend"]) == ("dry", "no trend")
    assert (by_uid[uids[8]]["wit_events"], by_uid[uids[8]]["wit_longest_event_days"],
            by_uid[uids[8]]["wit_last_wet"]) == (0, 0, None)

    plotted = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert plotted == sorted("%s.png" % uids[i] for i in (0, 1, 7, 8))
    assert by_uid[uids[0]]["plot"] == str(tmp_path / "plots" / ("%s.png" % uids[0]))

    observations = read_table(series, "id, time, water, wet, pv, npv, bs")
    first = [row for row in observations if row[0] == uids[0]]
    expected = sample[sample.XXX_UID == "149"].sort_values("time", kind="stable").drop_duplicates("time")
    assert len(first) == len(expected)
    assert first[0][1].startswith(expected.time.iloc[0].strftime("%Y-%m-%dT%H:%M:%S"))
    assert first[0][2:] == pytest.approx(tuple(expected[["water", "wet", "pv", "npv", "bs"]].iloc[0]))
    assert {row[0] for row in observations} == {uids[i] for i in (0, 1, 7, 8)}

    dry_frame = sample[sample.XXX_UID == "2"].assign(water=0.0, wet=0.0)
    hectares = ellipsoidal_hectares(canberra_zip)
    assert_metrics_written(annual, events, {uids[i]: (f, hectares[uids[i]]) for i, f in (
        *expected_frames.items(), (8, dry_frame))})
    assert uids[8] not in {row[0] for row in read_table(events, "id")}  # dry: years, no events
    for index in expected_frames:  # the summary agrees with the events table
        durations = [row[1] for row in read_table(events, "id, duration_days") if row[0] == uids[index]]
        row = by_uid[uids[index]]
        assert (row["wit_events"], row["wit_longest_event_days"]) == (len(durations), max(durations))
    assert annual_layer_geometry_is_the_polygons(annual, layer)


def annual_layer_geometry_is_the_polygons(path, layer) -> bool:
    """Each ANNUAL feature carries its polygon's geometry, in the input's CRS."""
    from qgis.core import QgsVectorLayer

    written = QgsVectorLayer(str(path), "annual", "ogr")
    polygons = {f["UID"]: f.geometry() for f in layer.getFeatures()}
    assert written.crs().authid() == "EPSG:3577" and written.featureCount() > 0
    return all(f.geometry().equals(polygons[f["id"]]) for f in written.getFeatures())


def test_an_unwritable_annual_or_events_destination_is_refused_before_any_download(qgis_app, canberra_zip,
                                                                                  tmp_path):
    import http.server
    import threading

    import processing
    from qgis.core import QgsProcessingException

    requests_seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests_seen.append(self.path)
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        layer = canberra_layer(canberra_zip, ["http://127.0.0.1:%d/r.parquet" % server.server_address[1]])
        output = tmp_path / "out.gpkg"
        for name in ("ANNUAL", "EVENTS"):
            with pytest.raises(QgsProcessingException, match=r"^%s: cannot write /nonexistent/x\.gpkg: the folder "
                               r"/nonexistent does not exist\.$" % name):
                processing.run("wit:loadresults", {"INPUT": layer, "OUTPUT": str(output),
                                                   name: "/nonexistent/x.gpkg"})
        in_the_way = tmp_path / "annual.gpkg"
        in_the_way.mkdir()  # a folder where the file should be: GDAL's refusal, named by its parameter
        with pytest.raises(QgsProcessingException, match=r"^ANNUAL: Could not create layer .*annual\.gpkg"):
            processing.run("wit:loadresults", {"INPUT": layer, "OUTPUT": str(output), "ANNUAL": str(in_the_way)})
        assert requests_seen == []  # nothing was downloaded
        assert list(in_the_way.iterdir()) == []
    finally:
        server.shutdown()


def test_wrong_url_field_and_endpoint_are_refused_before_reading(qgis_app, canberra_zip):
    import processing
    from qgis.core import QgsProcessingException

    layer = canberra_layer(canberra_zip, ["s3://b/k"])
    with pytest.raises(QgsProcessingException, match="S3_ENDPOINT 'ftp://x' must be an http"):
        processing.run("wit:loadresults", {"INPUT": layer, "S3_ENDPOINT": "ftp://x", "OUTPUT": "memory:"})
    with pytest.raises(QgsProcessingException, match="ID_FIELD: layer 'wit' has no field 'NAME'"):
        processing.run("wit:loadresults", {"INPUT": layer, "ID_FIELD": "NAME", "OUTPUT": "memory:"})
    layer.dataProvider().deleteAttributes([layer.fields().lookupField("wit_url")])
    layer.updateFields()
    with pytest.raises(QgsProcessingException, match="URL_FIELD: layer 'wit' has no field 'wit_url'"):
        processing.run("wit:loadresults", {"INPUT": layer, "OUTPUT": "memory:"})


def test_without_plots_no_plot_is_drawn(qgis_app, canberra_zip, tmp_path, monkeypatch):
    import processing

    monkeypatch.chdir(tmp_path)  # where a stray relative plot folder would land
    result_file = tmp_path / "16.parquet"
    result_file.write_bytes(wit_parquet("16"))
    output = tmp_path / "out.gpkg"
    processing.run("wit:loadresults", {"INPUT": canberra_layer(canberra_zip, [str(result_file)]),
                                       "OUTPUT": str(output)})
    assert read_table(output, "wit_load_status, wit_plot") == [("loaded", None)]
    assert not list(tmp_path.rglob("*.png"))


# The real qgis_process: dispatch to the WIT test server, which writes parquet into S3, then load.

@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    config = tmp_path_factory.mktemp("qgis-config-results")
    return config, prepare_profile(config)


def ellipsoidal_hectares(canberra_zip) -> dict:
    """Each polygon's area on GRS80, the ellipsoid of its CRS (EPSG:3577), by UID: the Canberra
    sample's, or another layer's."""
    from qgis.core import QgsDistanceArea, QgsProject, QgsUnitTypes, QgsVectorLayer

    layer = QgsVectorLayer(str(canberra_zip), "canberra", "ogr")
    measure = QgsDistanceArea()
    measure.setSourceCrs(layer.crs(), QgsProject.instance().transformContext())
    measure.setEllipsoid("GRS80")
    areas = {f["UID"]: measure.convertAreaMeasurement(measure.measureArea(f.geometry()), QgsUnitTypes.AreaHectares)
             for f in layer.getFeatures()}
    planar = {f["UID"]: f.geometry().area() / 1e4 for f in layer.getFeatures()}
    assert max(abs(areas[k] / planar[k] - 1) for k in areas) > 1e-7  # the test tells ellipsoidal from planar
    return areas


def qgis_process(env, *arguments):
    return subprocess.run(qgis_process_command() + list(arguments), env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
@pytest.mark.timeout(600)  # dispatch, load, the 87-page report and nine sites, each a qgis_process of its own
def test_dispatch_then_load_with_qgis_process(qgis_app, profile, s3_server, fresh_server, canberra_zip, pyarrow_wheel,
                                              sample, tmp_path):
    config, env = profile
    env = dict(env, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    server = fresh_server(job_seconds=0.05, s3_endpoint=s3_server.endpoint, s3_bucket="dea-public-data-dev",
                          time_encoding="int64", fail_boxes=[[149.0, -35.28, 149.05, -35.25]])
    dispatched = tmp_path / "dispatched.gpkg"
    run = qgis_process(env, "run", "wit:dispatchwit", "--", "INPUT=%s" % canberra_zip, "WPS_URL=%s" % server.wps_url,
                       "MAX_CONCURRENT=8", "OUTPUT=%s" % dispatched)
    assert run.returncode == 0, run.stdout + run.stderr
    statuses = [row[0] for row in read_table(dispatched, "wit_status")]
    assert statuses.count("succeeded") >= 80 and statuses.count("failed") >= 1

    arguments = ["run", "wit:loadresults", "--", "INPUT=%s" % dispatched, "ID_FIELD=UID",
                 "S3_ENDPOINT=%s" % s3_server.endpoint, "OUTPUT=%s" % (tmp_path / "loaded.gpkg"),
                 "PLOTS=%s" % (tmp_path / "plots"), "ANNUAL=%s" % (tmp_path / "annual.gpkg"),
                 "EVENTS=%s" % (tmp_path / "events.gpkg"), "TIMESERIES=%s" % (tmp_path / "series.gpkg")]
    gdal_reads_parquet = EXPECTED_READER == "gdal"
    assert (gdal.GetDriverByName("Parquet") is not None) == gdal_reads_parquet
    if not gdal_reads_parquet:  # no reader in QGIS's Python yet: refused, with the command that installs one
        refused = qgis_process(env, *arguments)
        assert refused.returncode != 0 and "Traceback" not in refused.stdout + refused.stderr
        command = re.search(r"^\s*(\S*python\S* -m pip install .*)$", refused.stdout + refused.stderr,
                            re.M).group(1)
        assert '--target "%s/profiles/default/python"' % config in command  # the real profile, named exactly
        words = shlex.split(command)
        assert Path(words[0]).resolve() == Path("/usr/bin/python3").resolve()  # QGIS's own Python, not PATH's
        assert words[1:] == ["-m", "pip", "install", "--no-deps", "--target", str(config / "profiles/default/python"),
                             "pyarrow<26" if int(numpy.__version__.split(".")[0]) < 2 else "pyarrow"]
        installed = subprocess.run(words[:-1] + ["-q", str(pyarrow_wheel)], capture_output=True, text=True)
        assert installed.returncode == 0, installed.stdout + installed.stderr

    run = qgis_process(env, *arguments)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Reading parquet with %s;" % EXPECTED_READER in run.stdout
    rows = read_table(tmp_path / "loaded.gpkg", "UID, wit_url, wit_status, wit_load_status, wit_wet_max_by_year, "
                      + ", ".join(STAT_NAMES + list(HISTORY_FIELDS)))
    assert len(rows) == 86
    results = server.results()
    areas = ellipsoidal_hectares(canberra_zip)
    loaded = {}
    for uid, url, status, load_status, peaks, *values in rows:
        ours = dict(zip(STAT_NAMES, values))
        history = dict(zip(HISTORY_FIELDS, values[len(STAT_NAMES):]))
        if status != "succeeded":
            assert load_status == "no result" and set(ours.values()) == set(history.values()) == {peaks} == {None}
            continue
        assert_same_history(history, expected_history(sample[sample.XXX_UID == results[url]["sample_uid"]]))
        assert json.loads(peaks) == expected_yearly_peaks(sample[sample.XXX_UID == results[url]["sample_uid"]])
        loaded[uid] = (sample[sample.XXX_UID == results[url]["sample_uid"]], areas[uid])
        assert load_status == "loaded" and (tmp_path / "plots" / ("%s.png" % uid)).is_file()
        frame = sample[sample.XXX_UID == results[url]["sample_uid"]]
        expected = pandas_statistics(frame, THRESHOLD, areas[uid])
        expected = {k: v.isoformat() if isinstance(v, date) else v for k, v in expected.items()}  # GeoPackage dates
        assert_same_statistics(ours, expected)  # every statistic, as the issue defines it
    assert len(list((tmp_path / "plots").glob("*.png"))) == statuses.count("succeeded")
    assert_metrics_written(tmp_path / "annual.gpkg", tmp_path / "events.gpkg", loaded)  # every value, every polygon
    assert "Summary: %d loaded, 0 failed, %d no result" % (
        statuses.count("succeeded"), 86 - statuses.count("succeeded")) in run.stdout
    assert_opens_styled(tmp_path / "loaded.gpkg", tmp_path / "annual.gpkg", outlines=False)  # headless, styled alike
    opened = run_driver("opened_driver.py", env, tmp_path / "desktop", WIT_FILES=os.pathsep.join(
        str(tmp_path / name) for name in ("dispatched.gpkg", "loaded.gpkg", "annual.gpkg")))
    layers = opened["layers"]  # added from their files in the real desktop, as a user adds them
    assert (layers["dispatched.gpkg"]["attribute"], layers["dispatched.gpkg"]["styles"]) == ("wit_status",
                                                                                              ["WIT status"])
    assert (layers["loaded.gpkg"]["attribute"], layers["loaded.gpkg"]["current"]) == ("wit_wet_pct", "Wet share")
    assert layers["loaded.gpkg"]["styles"] == ["Regime", "Trend", "Wet share", "Year by year"]
    assert layers["loaded.gpkg"]["map_tip"] and layers["annual.gpkg"]["renderer"] is None  # ANNUAL: a table
    # Year by year in the Temporal Controller at 2011: every wetland in the class of its ANNUAL row of 2011.
    assert opened["year_style"] and opened["year_temporal"] and opened["canvas_frame"][0].startswith("2011-01-01")
    peaks_2011 = {ident: peak for ident, year, peak in read_table(tmp_path / "annual.gpkg", "id, year, wetw_max")
                  if year == 2011}
    assert opened["classes"] == {uid: year_class(peaks_2011.get(uid), opened["labels"])
                                 for uid, in read_table(tmp_path / "loaded.gpkg", "wit_id")}
    assert len(set(opened["classes"].values())) >= 3
    # One step on, nothing else changed: the canvas redraws the layer in the next year's colours.
    step = opened["step"]
    assert step["2011"]["drawn"] == step["2011"]["fill"] != step["2012"]["fill"] == step["2012"]["drawn"], step
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "desktop" / "opened_from_files.png", ARTIFACTS / "opened_from_files.png")
    assert stored_styles(dispatched) == [("WIT status", 1)]
    from qgis.core import QgsVectorLayer

    assert QgsVectorLayer(str(dispatched), "dispatched", "ogr").renderer().classAttribute() == "wit_status"

    # The report of the run, headless: a summary page, then each polygon's page with its own numbers.
    pdf = tmp_path / "wit_report.pdf"
    run = qgis_process(env, "run", "wit:report", "--", "INPUT=%s" % (tmp_path / "loaded.gpkg"),
                       "ANNUAL=%s" % (tmp_path / "annual.gpkg"), "EVENTS=%s" % (tmp_path / "events.gpkg"),
                       "TIMESERIES=%s" % (tmp_path / "series.gpkg"), "OUTPUT=%s" % pdf)
    assert run.returncode == 0, run.stdout + run.stderr
    assert pdf_pages(pdf) == 87
    statistics = {row[0]: row for row in read_table(tmp_path / "loaded.gpkg",
                                                    "wit_id, wit_load_status, wit_obs, wit_wet_pct")}
    titles = []
    for text in page_texts(pdf)[1:]:
        ident, status, obs, wet_pct = statistics[text.split()[0]]
        titles.append(ident)
        if status == "loaded":
            assert "Observations: %d," % obs in text and "Wet observations: %.1f %%" % wet_pct in text
        else:
            assert "Result: no result" in text and "No plot: " in text
    assert sorted(titles) == sorted(statistics)  # each polygon's page, once

    # The same results as nine sites: a SITE field added to the file, fid mod 9 (in no site's order).
    grouped = tmp_path / "grouped.gpkg"
    shutil.copy(dispatched, grouped)
    dataset = gdal.OpenEx(str(grouped), gdal.OF_VECTOR | gdal.OF_UPDATE)
    layer = dataset.GetLayer(0)
    layer.CreateField(ogr.FieldDefn("SITE", ogr.OFTString))
    for feature in layer:
        feature.SetField("SITE", "s%d" % (feature.GetFID() % 9))
        layer.SetFeature(feature)
    dataset = layer = None
    run = qgis_process(env, "run", "wit:loadresults", "--", "INPUT=%s" % grouped, "ID_FIELD=UID", "GROUP_FIELD=SITE",
                       "S3_ENDPOINT=%s" % s3_server.endpoint, "OUTPUT=%s" % (tmp_path / "sites.gpkg"))
    assert run.returncode == 0, run.stdout + run.stderr
    members = {}
    for fid, uid, url, status in read_table(dispatched, "fid, UID, wit_url, wit_status"):
        members.setdefault("s%d" % (fid % 9), []).append((uid, url, status))
    columns = ["wit_id", "wit_subsites", "wit_subsites_loaded", "wit_dropped_dates", "wit_load_status"] + STAT_NAMES
    sites = [dict(zip(columns, row)) for row in read_table(tmp_path / "sites.gpkg", ", ".join(columns))]
    assert sorted(site["wit_id"] for site in sites) == sorted(members)
    for site in sites:
        parts = [(frame_of(sample, results[url]["sample_uid"]), areas[uid])
                 for uid, url, status in members[site["wit_id"]] if status == "succeeded"]
        frame, dropped = pandas_site(parts, 0.9)
        assert (site["wit_subsites"], site["wit_subsites_loaded"], site["wit_dropped_dates"], site[
            "wit_load_status"]) == (len(members[site["wit_id"]]), len(parts), dropped, "loaded")
        expected = pandas_statistics(frame, THRESHOLD, sum(area for _, area in parts))
        expected = {k: v.isoformat() if isinstance(v, date) else v for k, v in expected.items()}
        assert_same_statistics({name: site[name] for name in STAT_NAMES}, expected)


@pytest.mark.parametrize("path, url", [("/tmp/my plots/a.png", "file:///tmp/my%20plots/a.png"),
                                       ("C:\\Users\\me\\WIT plots\\a.png", "file:///C:/Users/me/WIT%20plots/a.png")])
def test_the_map_tip_shows_the_plot_from_posix_and_windows_paths(qgis_app, path, url):
    from qgis.core import QgsExpression, QgsExpressionContext, QgsFeature, QgsField, QgsFields
    from qgis.PyQt.QtCore import QVariant
    from wit_dispatcher.algorithms.styling import MAP_TIP

    fields = QgsFields()
    for name in ("wit_load_status", "wit_load_error", "wit_plot"):
        fields.append(QgsField(name, QVariant.String))
    feature = QgsFeature(fields)
    feature.setAttributes(["loaded", None, path])
    context = QgsExpressionContext()
    context.setFeature(feature)
    assert '<img width="480" src="%s">' % url in QgsExpression.replaceExpressionText(MAP_TIP, context)


def results_layer(rows: list[list]):
    """A memory layer with the results fields the map tip and the styles read, one feature per row."""
    from qgis.core import QgsFeature, QgsVectorLayer

    layer = QgsVectorLayer("Polygon?crs=EPSG:4326&field=wit_load_status:string&field=wit_load_error:string"
                           "&field=wit_plot:string&field=wit_wet_pct:double&field=wit_regime:string"
                           "&field=wit_trend:string&field=wit_trend_slope:double&field=wit_trend_p:double"
                           "&field=wit_latest_year:integer&field=wit_latest_rank_pct:double", "results", "memory")
    features = []
    for row in rows:
        feature = QgsFeature(layer.fields())
        feature.setAttributes(row)
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


def test_the_map_tip_shows_regime_trend_and_rank(qgis_app):
    from qgis.core import QgsExpression, QgsExpressionContext
    from wit_dispatcher.algorithms.styling import MAP_TIP

    layer = results_layer([["loaded", "", "", 3.0, "seasonal", "drier", -3.46, 0.0123, 2020, 57.8],
                           ["loaded", "", "", 1.0, "permanent", None, None, None, None, None],
                           ["loaded", "", "", 1.0, "seasonal", "wetter", 12.0, 0.0004, 2020, 100.0],
                           ["failed", "boom", "", None, None, None, None, None, None, None]])
    tips = []
    for feature in layer.getFeatures():
        context = QgsExpressionContext()
        context.setFeature(feature)
        tips.append(QgsExpression.replaceExpressionText(MAP_TIP, context))
    assert "Regime seasonal · trend drier (-3.5 pp/decade, p 0.012) · 2020: rank 58 % of earlier years<br>" in tips[0]
    assert "Regime permanent · trend not computed<br>" in tips[1] and "rank" not in tips[1]
    assert "trend wetter (12.0 pp/decade, p < 0.001) · 2020: rank 100 % of earlier years" in tips[2]
    assert "Regime" not in tips[3] and "boom" in tips[3]


def test_the_results_layer_has_trend_regime_and_year_by_year_styles(qgis_app):
    from qgis.core import QgsRenderContext
    from wit_dispatcher.algorithms.styling import MAP_TIP, style_results

    layer = results_layer([["loaded", "", "", 30.0, "permanent", "wetter", 4.0, 0.01, 2020, 90.0],
                           ["loaded", "", "", 3.0, "episodic", "drier", -4.0, 0.02, 2020, 10.0],
                           ["loaded", "", "", 3.0, "seasonal", "no trend", 0.5, 0.5, 2020, 50.0],
                           ["failed", "boom", "", None, None, None, None, None, None, None]])
    style_results(layer)
    style_results(layer)  # again (a second load of the same layer): nothing doubled
    manager = layer.styleManager()
    assert sorted(manager.styles()) == ["Regime", "Trend", "Wet share", "Year by year"]
    assert manager.currentStyle() == "Wet share" and layer.renderer().classAttribute() == "wit_wet_pct"

    def fills(style: str) -> list:
        assert manager.setCurrentStyle(style)
        renderer = layer.renderer()
        context = QgsRenderContext()
        renderer.startRender(context, layer.fields())
        try:
            symbols = [renderer.symbolForFeature(f, context) for f in layer.getFeatures()]
        finally:
            renderer.stopRender(context)
        assert layer.mapTipTemplate() == MAP_TIP and len(layer.actions().actions()) == 2  # in every style
        return [None if s is None else s.symbolLayer(0).brushStyle() != 0 and s.color().name()  # False: hollow
                for s in symbols]

    assert fills("Trend") == ["#2166ac", "#d6301d", "#9e9e9e", False]  # wetter blue, drier red, grey, NULL hollow
    assert fills("Regime") == ["#030aa7", "#9becff", "#0390d6", False]
    assert layer.renderer().classAttribute() == "wit_regime"
    assert fills("Wet share") == ["#2171b5", "#c6dbef", "#c6dbef", None]  # as before: NULL not drawn


def test_a_year_rounded_down_stays_in_its_annual_class(qgis_app):
    """Year by year reads each year's peak rounded down to 0.01 percentage point: at and around every
    class bound it falls in the class ANNUAL's unrounded wetw_max falls in."""
    import json as json_module

    from qgis.core import QgsVectorLayer
    from wit_dispatcher.algorithms.styling import WETW_CLASSES, style_annual, style_results
    from wit_dispatcher.wit_provider.results.metrics import Years, yearly_peaks

    annual = QgsVectorLayer("Polygon?field=wetw_max:double&field=start:date&field=end:date", "annual", "memory")
    style_annual(annual)
    results = results_layer([])
    style_results(results)
    assert results.styleManager().setCurrentStyle("Year by year")
    bounds = [low for low, _, _ in WETW_CLASSES[1:]]
    values = numpy.array(sorted({max(0.0, b + d) for b in bounds for d in (-1e-4, -5e-5, 0.0, 5e-5, 1e-4)}))
    years = Years(numpy.arange(len(values)) + 1900, numpy.arange(len(values)), numpy.ones(len(values), dtype=int),
                  numpy.zeros(len(values), dtype=int), values)
    rounded = json_module.loads(yearly_peaks(years))
    for value, percent in zip(values, rounded.values()):
        assert results.renderer().rangeForValue(percent).label() == annual.renderer().rangeForValue(value).label(), (
            value, percent)


def expected_yearly_peaks(frame: pd.DataFrame) -> dict:
    """Each UTC year's wetw_max (pandas_annual) in percent, rounded down to 0.01 percentage point."""
    return {str(row["year"]): math.floor(round(row["wetw_max"] * 10_000, 6)) / 100 for row in pandas_annual(frame)}


def year_class(wetw: float | None, labels: list) -> str:
    """The Year by year class of a year's ANNUAL wetw_max (None: not observed, the first label): ANNUAL's
    own classes, the first whose upper bound (just under the next class's lower one) it does not pass."""
    from wit_dispatcher.algorithms.styling import WETW_CLASSES

    return labels[0] if wetw is None else labels[1 + next(i for i, (_, high, _) in enumerate(WETW_CLASSES)
                                                         if wetw <= high)]


def test_year_by_year_colours_each_wetland_by_the_frames_year(qgis_app, canberra_zip, sample, tmp_path):
    """ANNUAL is a table (no outline copied per year); the results layer's Year by year style colours
    each wetland by its peak wet extent in the Temporal Controller's year, hollow in a year it was not
    observed, and with the Temporal Controller off by its record's peak."""
    import processing
    from qgis.core import (
        Qgis,
        QgsDateTimeRange,
        QgsMapSettings,
        QgsProject,
        QgsTemporalProperty,
        QgsTemporalUtils,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QTime
    from qgis_helpers import frame_classes
    from wit_dispatcher.algorithms.styling import restore_stored_styles

    frames = {uid: sample[sample.XXX_UID == uid].drop(columns="XXX_UID") for uid in ("149", "16", "2")}
    frames["150"] = sample[sample.XXX_UID == "150"].drop(columns="XXX_UID").sort_values("time").iloc[:250]  # to 2004
    urls = []
    for uid, frame in frames.items():
        (tmp_path / ("%s.parquet" % uid)).write_bytes(frame.to_parquet(index=False))
        urls.append(str(tmp_path / ("%s.parquet" % uid)))
    layer = canberra_layer(canberra_zip, urls + [str(tmp_path / "missing.parquet")])
    names = [f["UID"] for f in layer.getFeatures()]
    by_name = dict(zip(names, frames.values()))
    output, annual = tmp_path / "out.gpkg", tmp_path / "annual.gpkg"
    processing.run("wit:loadresults", {"INPUT": layer, "ID_FIELD": "UID", "OUTPUT": str(output),
                                       "ANNUAL": str(annual)})
    table = QgsVectorLayer(str(annual), "annual", "ogr")
    assert table.featureCount() == sum(len(pandas_annual(f)) for f in frames.values()) and not table.isSpatial()
    peaks = dict(read_table(output, "wit_id, wit_wet_max_by_year"))
    assert peaks.pop(names[-1]) is None  # not loaded: NULL
    assert {name: json.loads(text) for name, text in peaks.items()} == {
        name: expected_yearly_peaks(frame) for name, frame in by_name.items()}

    results = QgsVectorLayer(str(output), "results", "ogr")
    restore_stored_styles([results])  # as the desktop does when the file is added
    assert results.styleManager().setCurrentStyle("Year by year")
    temporal = results.temporalProperties()
    assert temporal.isActive() and temporal.mode() == Qgis.VectorTemporalMode.FeatureDateTimeStartAndEndFromExpressions
    # Redrawn when the frame changes (a layer flagged otherwise keeps its drawing from frame to frame)...
    assert not temporal.flags() & QgsTemporalProperty.Flag.FlagDontInvalidateCachedRendersWhenRangeChanges
    project = QgsProject()  # ...and the record's years the Temporal Controller's full range
    project.addMapLayer(results, False)
    extent = QgsTemporalUtils.calculateTemporalRangeForProject(project)
    assert [moment.toString(Qt.DateFormat.ISODate)[:10] for moment in (extent.begin(), extent.end())] == [
        "1987-01-01", "2021-01-01"]
    labels = [item.label() for item in sorted(results.renderer().ranges(), key=lambda r: r.lowerValue())]

    def label_of(wetw: float | None) -> str:
        return year_class(wetw, labels)

    def utc(year: int) -> QDateTime:
        return QDateTime(QDate(year, 1, 1), QTime(0, 0), Qt.TimeSpec.UTC)

    drawn = []
    for year in (1990, 2011):
        settings = QgsMapSettings()
        settings.setIsTemporal(True)
        settings.setTemporalRange(QgsDateTimeRange(utc(year), utc(year + 1), True, False))
        expected = {name: label_of(next((row["wetw_max"] for row in pandas_annual(frame) if row["year"] == year),
                                        None)) for name, frame in by_name.items()}
        drawn.append(frame_classes(results, settings))
        assert drawn[-1] == {**expected, names[-1]: labels[0]}, year
        assert len(set(drawn[-1].values())) > 2, year  # the classes tell the wetlands apart
    assert drawn[0] != drawn[1]  # and the years
    assert frame_classes(results, QgsMapSettings()) == {  # no frame: the record's peak
        **{name: label_of(float((frame.water + frame.wet).max())) for name, frame in by_name.items()},
        names[-1]: labels[0]}
    assert labels[0] == "not observed that year, or no result"


def test_annual_and_events_written_as_csv_are_plain_tables(qgis_app, canberra_zip, tmp_path):
    """ANNUAL and EVENTS in a table format: plain tables, no geometry column."""
    import csv

    import processing

    result_file = tmp_path / "16.parquet"
    result_file.write_bytes(wit_parquet("16"))
    processing.run("wit:loadresults", {"INPUT": canberra_layer(canberra_zip, [str(result_file)]), "ID_FIELD": "UID",
                                       "OUTPUT": str(tmp_path / "out.gpkg"), "ANNUAL": str(tmp_path / "annual.csv"),
                                       "EVENTS": str(tmp_path / "events.csv")})
    with open(tmp_path / "annual.csv", newline="") as file:
        annual = list(csv.DictReader(file))
    assert list(annual[0])[:5] == ["id", "year", "start", "end", "obs"] and "WKT" not in annual[0]
    assert len(annual) == 34 and annual[0]["start"] == "%s/01/01" % annual[0]["year"]  # OGR's CSV dates
    with open(tmp_path / "events.csv", newline="") as file:
        events = list(csv.DictReader(file))
    assert len(events) == read_table(tmp_path / "out.gpkg", "wit_events")[0][0] > 0


def test_geopackage_outputs_open_styled_from_their_files(qgis_app, canberra_zip, tmp_path):
    import processing

    result_file = tmp_path / "16.parquet"
    result_file.write_bytes(wit_parquet("16"))
    output, annual = tmp_path / "out.gpkg", tmp_path / "annual.gpkg"
    processing.run("wit:loadresults", {"INPUT": canberra_layer(canberra_zip, [str(result_file)]), "ID_FIELD": "UID",
                                       "OUTPUT": str(output), "ANNUAL": str(annual), "ANNUAL_OUTLINES": True})
    assert_opens_styled(output, annual)


def stored_styles(path) -> list:
    with sqlite3.connect(path) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'layer_styles'").fetchone():
            return []
        return db.execute("SELECT styleName, useAsDefault FROM layer_styles ORDER BY id").fetchall()


def assert_opens_styled(output, annual, outlines: bool = True) -> None:
    """Load WIT results' GeoPackages carry their styles: opened from the file they are graduated, and
    once the plugin has added them to a project the results offer Trend, Regime and Year by year, and
    ANNUAL with outlines steps with the Temporal Controller, as after a toolbox run. ANNUAL as a table
    stores no style."""
    from qgis.core import Qgis, QgsProject, QgsVectorLayer
    from wit_dispatcher.algorithms.styling import MAP_TIP, restore_stored_styles

    assert sorted(stored_styles(output)) == [("Regime", 0), ("Trend", 0), ("Wet share", 1), ("Year by year", 0)]
    assert stored_styles(annual) == ([("Year by year", 1)] if outlines else [])
    results, years = (QgsVectorLayer(str(path), path.stem, "ogr") for path in (output, annual))
    assert results.renderer().classAttribute() == "wit_wet_pct" and results.mapTipTemplate() == MAP_TIP
    assert not results.temporalProperties().isActive()
    if outlines:
        assert years.renderer().classAttribute() == "wetw_max"
        assert not years.temporalProperties().isActive()  # QGIS's provider defaults, until the plugin restores them
    else:
        assert not years.isSpatial()
    project = QgsProject.instance()
    project.layersAdded.connect(restore_stored_styles)  # as the plugin does in the desktop
    try:
        project.addMapLayers([results, years])
        temporal = years.temporalProperties()
        if outlines:
            assert temporal.isActive()
            assert temporal.mode() == Qgis.VectorTemporalMode.FeatureDateTimeStartAndEndFromExpressions
            assert (temporal.startExpression(), temporal.endExpression()) == ('to_datetime("start")',
                                                                              'to_datetime("end")')
            assert years.styleManager().styles() == ["Year by year"]
        manager = results.styleManager()
        assert sorted(manager.styles()) == ["Regime", "Trend", "Wet share", "Year by year"]
        assert manager.currentStyle() == "Wet share" and not results.temporalProperties().isActive()
        assert manager.setCurrentStyle("Year by year") and results.temporalProperties().isActive()
        assert manager.setCurrentStyle("Trend") and results.renderer().classAttribute() == "wit_trend"
        assert not results.temporalProperties().isActive()
        assert {action.name() for action in results.actions().actions()} == {"Show WIT plot", "Open in WIT explorer"}
        # The user's choices, saved in a project: reopened, they stand (nothing restored twice).
        years.temporalProperties().setIsActive(False)
        project_file = Path(str(output)).with_name("wit.qgz")
        assert project.write(str(project_file))
        project.clear()
        assert project.read(str(project_file))
        reopened = {layer.source().split("|")[0]: layer for layer in project.mapLayers().values()}
        assert reopened[str(output)].styleManager().currentStyle() == "Trend"
        assert not reopened[str(annual)].temporalProperties().isActive()
        assert sorted(reopened[str(output)].styleManager().styles()) == ["Regime", "Trend", "Wet share",
                                                                           "Year by year"]
    finally:
        project.layersAdded.disconnect(restore_stored_styles)
        project.removeAllMapLayers()


def test_tables_appended_through_sqlite_equal_the_same_tables_written_as_features(qgis_app, canberra_zip, tmp_path,
                                                                                   monkeypatch):
    """TIMESERIES, ANNUAL and EVENTS each in a GeoPackage of its own (a path, or QGIS's ogr: form)
    get their rows through SQLite; in one GeoPackage with the statistics (two writers to one file)
    through QGIS's sinks. QGIS reads the same rows, the same types and the same feature counts from
    both, OGR keeps counting, and the times are the series' own to the millisecond, in UTC."""
    import processing
    from qgis.core import QgsVectorLayer
    from wit_dispatcher.algorithms import tables as table_outputs

    appended = []

    class Recorded(table_outputs.GeoPackageRows):
        def __init__(self, path, table, columns):
            super().__init__(path, table, columns)
            appended.append(Path(path).name)

    monkeypatch.setattr(table_outputs, "GeoPackageRows", Recorded)
    urls = []
    for uid in ("149", "16", "2"):
        (tmp_path / ("%s.parquet" % uid)).write_bytes(wit_parquet(uid, "int64" if uid == "16" else "int96"))
        urls.append(str(tmp_path / ("%s.parquet" % uid)))
    layer = canberra_layer(canberra_zip, urls + [str(tmp_path / "missing.parquet")])
    tables = ("TIMESERIES", "ANNUAL", "EVENTS")
    own = {name: tmp_path / ("%s.gpkg" % name.lower()) for name in tables}
    shared = tmp_path / "shared.gpkg"
    first = processing.run("wit:loadresults", {
        "INPUT": layer, "ID_FIELD": "UID", "OUTPUT": str(tmp_path / "out.gpkg"), "TIMESERIES": str(own["TIMESERIES"]),
        "ANNUAL": str(own["ANNUAL"]), "EVENTS": "ogr:dbname='%s' table=\"events\"" % own["EVENTS"]})
    assert sorted(appended) == ["annual.gpkg", "events.gpkg", "timeseries.gpkg"]
    second = processing.run("wit:loadresults", {
        "INPUT": layer, "ID_FIELD": "UID", "OUTPUT": "ogr:dbname='%s' table=\"stats\" (geom)" % shared,
        **{name: "ogr:dbname='%s' table=\"%s\"" % (shared, name.lower()) for name in tables}})
    assert len(appended) == 3  # the shared file: features only
    assert (first["LOADED"], first["FAILED"]) == (second["LOADED"], second["FAILED"]) == (3, 1)

    def rows(dest_id):
        written = QgsVectorLayer(dest_id, "table", "ogr")
        assert written.isValid(), dest_id
        values = [[(type(v).__name__, v.toString("yyyy-MM-ddTHH:mm:ss") if hasattr(v, "toString") else v)
                   for v in feature.attributes()[1:]] for feature in written.getFeatures()]
        return [(f.name(), f.typeName()) for f in written.fields()], values, written.featureCount()

    for name in tables:
        assert shared.as_posix() in second[name] and own[name].as_posix() in first[name]
        fields, values, count = rows(first[name])
        assert (fields, values, count) == rows(second[name]), name  # times to the second: QGIS 3.22's sink
        assert count == len(values) > (300 if name == "TIMESERIES" else 20 if name == "ANNUAL" else 3), name
    uid = layer.getFeature(1)["UID"]
    expected = pd.read_parquet(urls[0]).time.drop_duplicates().sort_values().dt.floor("ms")
    stored = [text for ident, text in read_table(own["TIMESERIES"], "id, time") if ident == uid]
    assert stored == [t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z" for t in expected]  # milliseconds, UTC
    series = QgsVectorLayer(first["TIMESERIES"], "series", "ogr")
    read = [f["time"].toMSecsSinceEpoch() for f in series.getFeatures() if f["id"] == uid]
    # As QGIS reads them (in UTC, as this machine's clock is; QGIS 3.22 takes the seconds as a float, so 1 ms less)
    assert [abs(ms - t.value // 1_000_000) <= 1 for ms, t in zip(read, expected)] == [True] * len(expected)
    with sqlite3.connect(own["ANNUAL"]) as db:  # OGR's count and its trigger are back
        assert db.execute("SELECT feature_count FROM gpkg_ogr_contents").fetchone()[0] == rows(first["ANNUAL"])[2]
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = "
                          "'trigger_insert_feature_count_annual'").fetchone()[0] == 1

    # Appended to that ANNUAL (a field mapping, as a model or script may ask): QGIS's sink, never SQLite.
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsProcessingOutputLayerDefinition,
        QgsProperty,
        QgsRemappingSinkDefinition,
        QgsWkbTypes,
    )

    before = rows(first["ANNUAL"])[1]
    mapping = QgsRemappingSinkDefinition()
    existing = QgsVectorLayer(first["ANNUAL"], "annual", "ogr")
    mapping.setDestinationFields(existing.fields())
    mapping.setDestinationWkbType(QgsWkbTypes.Type.NoGeometry)
    mapping.setSourceCrs(QgsCoordinateReferenceSystem())
    mapping.setDestinationCrs(QgsCoordinateReferenceSystem())
    mapping.setFieldMap({name: QgsProperty.fromField(name) for name in existing.fields().names() if name != "fid"})
    into = QgsProcessingOutputLayerDefinition(str(own["ANNUAL"]))
    into.setRemappingDefinition(mapping)
    del existing
    processing.run("wit:loadresults", {"INPUT": layer, "ID_FIELD": "UID", "OUTPUT": str(tmp_path / "again.gpkg"),
                                       "ANNUAL": into})
    assert len(appended) == 3
    assert rows(str(own["ANNUAL"]))[1] == before + before

    # Into the GeoPackage the input is read from: QGIS's sink, never SQLite (a writer would wait on the reader).
    from qgis.core import QgsCoordinateTransformContext, QgsVectorFileWriter

    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName, options.layerName = "GPKG", "wetlands"
    wetlands = tmp_path / "wetlands.gpkg"
    assert QgsVectorFileWriter.writeAsVectorFormatV3(layer, str(wetlands), QgsCoordinateTransformContext(),
                                                     options)[0] == QgsVectorFileWriter.WriterError.NoError
    beside = processing.run("wit:loadresults", {
        "INPUT": "%s|layername=wetlands" % wetlands, "ID_FIELD": "UID", "OUTPUT": str(tmp_path / "third.gpkg"),
        "EVENTS": "ogr:dbname='%s' table=\"events\"" % wetlands})
    assert len(appended) == 3 and rows(beside["EVENTS"])[1] == rows(first["EVENTS"])[1]


def test_every_table_is_closed_however_the_run_ends(qgis_app):
    """closed_at_end closes every table, one failing to close or not; the block's own error wins."""
    from wit_dispatcher.algorithms.tables import closed_at_end

    class Table:
        def __init__(self, fails=False):
            self.fails, self.closed = fails, False

        def close(self):
            self.closed = True
            if self.fails:
                raise OSError("disk full")

    tables = [Table(), Table(fails=True), None, Table()]
    with pytest.raises(OSError, match="disk full"):
        with closed_at_end(tables) as opened:
            assert opened is tables
    assert [t.closed for t in tables if t] == [True, True, True]
    tables = [Table(fails=True), Table()]
    with pytest.raises(KeyError):
        with closed_at_end(tables):
            raise KeyError("the run's own")
    assert [t.closed for t in tables] == [True, True]


def test_timeseries_times_read_back_as_written_whatever_the_clock(qgis_app, tmp_path, monkeypatch):
    """On a clock in Canberra, a TIMESERIES time read back for the explorer and the report is the
    UTC time written, whether QGIS reads the file's "…Z" as UTC (3.40 on) or as local time (3.22)."""
    import time

    from osgeo import ogr
    from qgis.core import QgsVectorLayer
    from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QTime
    from wit_dispatcher.wit_provider.qgis_bridge.values import nanoseconds
    from wit_dispatcher.wit_provider.results.gpkg_rows import GeoPackageRows, moment_texts

    written = numpy.array([1_294_962_732_345_000_000], dtype=numpy.int64)  # 2011-01-13T23:52:12.345Z
    path = tmp_path / "timeseries.gpkg"
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    source.CreateLayer("timeseries", None, ogr.wkbNone).CreateField(ogr.FieldDefn("time", ogr.OFTDateTime))
    source = None
    rows = GeoPackageRows(str(path), None, ["time"])
    rows.add([[text] for text in moment_texts(written)])
    rows.close()
    monkeypatch.setenv("TZ", "Australia/Sydney")
    time.tzset()
    try:
        local = QDateTime(QDate(2011, 1, 13), QTime(23, 52, 12, 345), Qt.TimeSpec.LocalTime)
        assert local.toMSecsSinceEpoch() != written[0] // 1_000_000  # the clock is not UTC's
        read = next(QgsVectorLayer(str(path), "timeseries", "ogr").getFeatures())["time"]
        assert [nanoseconds(moment) for moment in (read, local, "2011-01-13T23:52:12.345Z")] == [written[0]] * 3
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def many_wetlands(folder: Path, canberra_zip, count: int) -> tuple[Path, dict]:
    """``count`` wetlands, the Canberra sample's outlines over and over, each naming one of the sample's
    series in a local file (cycling through them); the layer and each UID's sample UID."""
    uids = sorted(wit_sample_uids(), key=int)
    files = {}
    for uid in uids:
        files[uid] = folder / ("%s.parquet" % uid)
        files[uid].write_bytes(wit_parquet(uid, "int64"))
    canberra = ogr.Open("/vsizip/%s" % canberra_zip)
    outlines = [feature.GetGeometryRef().Clone() for feature in canberra.GetLayer(0)]
    path = folder / "wetlands.gpkg"
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("wetlands", canberra.GetLayer(0).GetSpatialRef(), ogr.wkbMultiPolygon)
    for name in ("UID", "wit_url"):
        layer.CreateField(ogr.FieldDefn(name, ogr.OFTString))
    named = {}
    layer.StartTransaction()
    for index in range(count):
        uid = "w%d" % index
        named[uid] = uids[index % len(uids)]
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("UID", uid)
        feature.SetField("wit_url", str(files[named[uid]]))
        feature.SetGeometry(ogr.ForceToMultiPolygon(outlines[index % len(outlines)].Clone()))
        layer.CreateFeature(feature)
    layer.CommitTransaction()
    source = canberra = None
    return path, named


@pytest.mark.slow
def test_many_wetlands_are_measured_in_worker_processes_under_qgis_process(qgis_app, profile, pyarrow_wheel,
                                                                          canberra_zip, sample, tmp_path):
    """From MIN_WETLANDS up, the real qgis_process (whose sys.executable is PATH's python3) measures in
    worker processes of its own Python, a reader installed in the profile and all: every value as defined."""
    config, env = profile
    target = config / "profiles/default/python"
    if EXPECTED_READER != "gdal" and not (target / "pyarrow").is_dir():  # as the run above installs it
        subprocess.run(["/usr/bin/python3", "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                        str(pyarrow_wheel)], check=True, capture_output=True)
    layer, named = many_wetlands(tmp_path, canberra_zip, MIN_WETLANDS)
    run = qgis_process(env, "run", "wit:loadresults", "--", "INPUT=%s" % layer, "ID_FIELD=UID",
                       "OUTPUT=%s" % (tmp_path / "loaded.gpkg"), "ANNUAL=%s" % (tmp_path / "annual.gpkg"),
                       "EVENTS=%s" % (tmp_path / "events.gpkg"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"Reading parquet with %s; %d polygons; measured in [2-8] worker processes\." % (
        EXPECTED_READER, MIN_WETLANDS), run.stdout), run.stdout
    assert "Worker processes:" not in run.stdout + run.stderr
    assert "Summary: %d loaded, 0 failed, 0 no result" % MIN_WETLANDS in run.stdout
    rows = read_table(tmp_path / "loaded.gpkg", "UID, wit_load_status, " + ", ".join(STAT_NAMES + list(HISTORY_FIELDS)))
    assert len(rows) == MIN_WETLANDS
    areas = ellipsoidal_hectares(layer)
    frames = {uid: sample[sample.XXX_UID == uid] for uid in set(named.values())}
    histories = {uid: expected_history(frame) for uid, frame in frames.items()}
    first = {}  # each sample series' first wetland, whose ANNUAL and EVENTS rows are checked
    for uid, load_status, *values in rows:
        frame = frames[named[uid]]
        assert load_status == "loaded"
        ours = dict(zip(STAT_NAMES, values))
        expected = pandas_statistics(frame, THRESHOLD, areas[uid])
        expected = {k: v.isoformat() if isinstance(v, date) else v for k, v in expected.items()}
        assert_same_statistics(ours, expected)
        assert_same_history(dict(zip(HISTORY_FIELDS, values[len(STAT_NAMES):])), histories[named[uid]])
        first.setdefault(named[uid], (uid, (frame, areas[uid])))
    assert_metrics_written(tmp_path / "annual.gpkg", tmp_path / "events.gpkg", dict(first.values()), set(named))
