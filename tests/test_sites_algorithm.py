"""wit:loadresults with GROUP_FIELD: one feature per site, every output computed on the site's
series, checked against pandas computing the rule from the sample's real series."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from test_history import assert_same as assert_same_history
from test_history import expected_history
from test_load_results import THRESHOLD, assert_same_statistics, pandas_statistics
from test_load_results_algorithm import (
    STAT_NAMES,
    assert_metrics_written,
    canberra_layer,
    ellipsoidal_hectares,
    read_table,
)
from test_sites import frame_of, pandas_site
from wit_server.s3 import sample_uids, wit_parquet

from wit_provider.results.history import HISTORY_FIELDS

# Feature index → site: A and B in turns (the layer in no site's order), B with a missing result,
# C two copies of one polygon (overlapping), D a site of one, two polygons with NULL of their own.
SITES = ["A", "B", "A", None, "B", "B", "C", "B", "B", None, "D", "C"]
MISSING = 8  # B's subsite whose result file is not there


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    from conftest import WIT_SAMPLE

    frame = pd.read_parquet(WIT_SAMPLE).drop(columns="geometry")
    return frame.assign(time=frame.time.dt.tz_localize("UTC"))


@pytest.fixture
def grs80():
    """The project's ellipsoid, which Processing measures areas on; restored after the test."""
    from qgis.core import QgsProject

    project = QgsProject.instance()
    before = project.ellipsoid()
    project.setEllipsoid("GRS80")
    yield
    project.setEllipsoid(before)


def site_layer(canberra_zip, tmp_path):
    from qgis.core import QgsField, QgsGeometry
    from qgis.PyQt.QtCore import QVariant

    uids = sample_uids()[:len(SITES)]
    urls = []
    for index, uid in enumerate(uids):
        path = tmp_path / ("%s.parquet" % uid)
        if index != MISSING:
            path.write_bytes(wit_parquet(uid))
        urls.append(str(path))
    layer = canberra_layer(canberra_zip, urls)
    layer.dataProvider().addAttributes([QgsField("SITE", QVariant.String)])
    layer.updateFields()
    features = list(layer.getFeatures())
    copy = QgsGeometry(features[6].geometry())
    changes = {feature.id(): {layer.fields().lookupField("SITE"): SITES[i]} for i, feature in enumerate(features)}
    layer.dataProvider().changeAttributeValues(changes)
    layer.dataProvider().changeGeometryValues({features[11].id(): copy})
    return layer, uids, [f["UID"] for f in features]


def test_each_site_is_one_feature_whose_outputs_are_its_combined_series(qgis_app, canberra_zip, tmp_path, sample,
                                                                         grs80):
    import processing
    from qgis.core import QgsVectorLayer

    layer, uids, layer_uids = site_layer(canberra_zip, tmp_path)
    areas = ellipsoidal_hectares(canberra_zip)
    area_of = [areas[layer_uids[6]] if i == 11 else areas[layer_uids[i]] for i in range(len(SITES))]
    output, series, annual, events = (tmp_path / name for name in ("stats.gpkg", "series.gpkg", "annual.gpkg",
                                                                   "events.gpkg"))
    result = processing.run("wit:loadresults", {
        "INPUT": layer, "ID_FIELD": "UID", "GROUP_FIELD": "SITE", "MAX_CONCURRENT": 3, "OUTPUT": str(output),
        "TIMESERIES": str(series), "ANNUAL": str(annual), "ANNUAL_OUTLINES": True,
        "EVENTS": str(events), "PLOTS": str(tmp_path / "plots")})
    assert (result["LOADED"], result["FAILED"], result["NO_RESULT"]) == (6, 0, 0)

    columns = ["UID", "SITE", "wit_url", "wit_id", "wit_subsites", "wit_subsites_loaded", "wit_dropped_dates",
               "wit_load_status", "wit_load_error", "wit_plot"] + STAT_NAMES + list(HISTORY_FIELDS)
    rows = [dict(zip(columns, row)) for row in read_table(output, ", ".join('"%s"' % c for c in columns))]
    # One feature per site, in the order of each site's first polygon; a NULL value is a site of its own.
    assert [row["wit_id"] for row in rows] == ["A", "B", layer_uids[3], "C", layer_uids[9], "D"]
    assert [row["UID"] for row in rows] == [layer_uids[i] for i in (0, 1, 3, 6, 9, 10)]  # the first subsite's
    assert [row["wit_url"] is None for row in rows] == [True, True, False, True, False, False]
    members = {site: [i for i, s in enumerate(SITES) if s == site] for site in "ABCD"}
    members.update({layer_uids[3]: [3], layer_uids[9]: [9]})
    expected_series, metrics = {}, {}
    for row in rows:
        loaded = [i for i in members[row["wit_id"]] if i != MISSING]
        frame, dropped = pandas_site([(frame_of(sample, uids[i]), area_of[i]) for i in loaded], 0.9)
        if row["wit_id"] in "ABCD":
            assert (row["wit_subsites"], row["wit_subsites_loaded"], row["wit_dropped_dates"]) == (
                len(members[row["wit_id"]]), len(loaded), dropped)
        else:  # its own series, as without GROUP_FIELD
            frame = frame_of(sample, uids[loaded[0]])
            assert (row["wit_subsites"], row["wit_subsites_loaded"], row["wit_dropped_dates"]) == (1, 1, 0)
        site_area = sum(area_of[i] for i in loaded)
        expected = pandas_statistics(frame, THRESHOLD, site_area)
        ours = {name: date.fromisoformat(row[name]) if name in ("wit_first", "wit_last", "wit_last_wet")
                and row[name] else row[name] for name in STAT_NAMES}
        assert_same_statistics(ours, expected)
        assert_same_history(row, expected_history(frame.assign(time=frame.time.dt.tz_localize(None))))
        assert row["wit_load_status"] == "loaded" and row["wit_plot"].endswith(".png")
        expected_series[row["wit_id"]] = frame
        metrics[row["wit_id"]] = (frame, site_area)
    by_site = {row["wit_id"]: row for row in rows}
    assert by_site["A"]["wit_load_error"] is None and by_site["D"]["wit_load_error"] is None
    assert by_site["B"]["wit_load_error"].startswith("subsite %s: " % layer_uids[MISSING])
    assert by_site["C"]["wit_load_error"].startswith("warning: its loaded subsites overlap: their union is ")
    assert " 50 % of the sum of their areas" in by_site["C"]["wit_load_error"]
    assert by_site["A"]["wit_dropped_dates"] > 0  # the sample's polygons are seen on different dates

    table = read_table(series, "id, time, water, wet, pv, npv, bs")
    for ident, frame in expected_series.items():
        ours = [row for row in table if row[0] == ident]
        assert [row[1][:19] for row in ours] == [t.strftime("%Y-%m-%dT%H:%M:%S") for t in frame.time]
        for column, name in enumerate(("water", "wet", "pv", "npv", "bs"), 2):
            assert [row[column] for row in ours] == pytest.approx(frame[name].tolist(), rel=1e-12, abs=1e-15)
    assert_metrics_written(annual, events, metrics)

    # The WIT explorer's reader shows a site's series from the TIMESERIES table, and says where it is without.
    from qgis.core import QgsVectorLayerFeatureSource
    from wit_dispatcher.gui.wetland_task import Sources, WetlandRequest, WetlandTask
    from wit_dispatcher.wit_provider.results.fetch import S3Settings

    table_layer = QgsVectorLayer(str(series), "series", "ogr")
    with_table = WetlandTask([], Sources(timeseries=QgsVectorLayerFeatureSource(table_layer), names={
        "timeseries": "series"}), S3Settings(), lambda wetlands: None)
    shown = with_table._read(WetlandRequest("B", None, metrics["B"][1], subsites=5))
    assert shown.reason == "" and shown.series.water.tolist() == pytest.approx(expected_series["B"].water.tolist())
    without = WetlandTask([], Sources(), S3Settings(), lambda wetlands: None)._read(
        WetlandRequest("B", None, metrics["B"][1], subsites=5))
    assert without.series is None and "a site of 5 subsites, whose combined series is in Load WIT results' " \
        "TIMESERIES output" in without.reason

    years = QgsVectorLayer(str(annual), "annual", "ogr")
    site_years = [f.geometry() for f in years.getFeatures() if f["id"] == "B"]
    assert site_years and all(g.constGet().numGeometries() == 5 for g in site_years)  # the site's multipolygon

    sites = QgsVectorLayer(str(output), "sites", "ogr")
    geometries = {f["wit_id"]: f.geometry() for f in sites.getFeatures()}
    assert geometries["B"].isMultipart() and geometries["B"].constGet().numGeometries() == 5
    assert geometries["C"].constGet().numGeometries() == 2
    assert geometries["A"].area() == pytest.approx(sum(
        f.geometry().area() for i, f in enumerate(layer.getFeatures()) if SITES[i] == "A"), rel=1e-12)


def test_a_site_without_a_loaded_subsite_and_a_group_field_the_layer_lacks(qgis_app, canberra_zip, tmp_path):
    import processing
    from qgis.core import QgsField, QgsProcessingException
    from qgis.PyQt.QtCore import QVariant

    layer = canberra_layer(canberra_zip, ["", str(tmp_path / "gone.parquet"), ""])
    with pytest.raises(QgsProcessingException, match="GROUP_FIELD: layer 'wit' has no field 'SITE'"):
        processing.run("wit:loadresults", {"INPUT": layer, "GROUP_FIELD": "SITE", "OUTPUT": "memory:"})
    layer.dataProvider().addAttributes([QgsField("SITE", QVariant.Int)])
    layer.updateFields()
    index = layer.fields().lookupField("SITE")
    layer.dataProvider().changeAttributeValues({f.id(): {index: 7} for f in layer.getFeatures()})
    result = processing.run("wit:loadresults", {"INPUT": layer, "GROUP_FIELD": "SITE", "OUTPUT": "memory:"})
    assert (result["LOADED"], result["FAILED"], result["NO_RESULT"]) == (0, 1, 0)
    site = next(result["OUTPUT"].getFeatures())
    assert (site["wit_id"], site["wit_load_status"], site["wit_subsites"], site["wit_subsites_loaded"]) == (
        "7", "failed", 3, 0)
    obs = site["wit_obs"]
    assert site["wit_load_error"].count("subsite ") == 3 and (obs is None or isinstance(obs, QVariant) and obs.isNull())


def test_site_cover_is_the_share_a_date_must_cover(qgis_app, canberra_zip, tmp_path, sample, grs80):
    import processing

    layer, uids, layer_uids = site_layer(canberra_zip, tmp_path)
    areas = ellipsoidal_hectares(canberra_zip)
    result = processing.run("wit:loadresults", {"INPUT": layer, "ID_FIELD": "UID", "GROUP_FIELD": "SITE",
                                                "SITE_COVER": 0.5, "OUTPUT": "memory:"})
    site = next(f for f in result["OUTPUT"].getFeatures() if f["wit_id"] == "A")
    frames = [(frame_of(sample, uids[i]), areas[layer_uids[i]]) for i, s in enumerate(SITES) if s == "A"]
    frame, dropped = pandas_site(frames, 0.5)
    assert (site["wit_obs"], site["wit_dropped_dates"]) == (len(frame), dropped)
    assert dropped < pandas_site(frames, 0.9)[1]
