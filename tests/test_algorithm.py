"""wit:dispatchwit through processing.run, against the real PyWPS WIT server on loopback."""

import pytest
from qgis.core import (
    QgsFeature,
    QgsGeometry,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProject,
    QgsVectorLayer,
)
from qgis_helpers import RecordingFeedback, lonlat_rings, received_rings, same_rings

START, END = "2010-01-01T00:00:00", "2015-06-30T00:00:00"


def dispatch(source, server_url, feedback=None, **extra):
    import processing

    parameters = {"INPUT": source, "WPS_URL": server_url, "START": START, "END": END,
                  "MAX_CONCURRENT": 8, "OUTPUT": "TEMPORARY_OUTPUT"}
    parameters.update(extra)
    return processing.run("wit:dispatchwit", parameters, feedback=feedback or RecordingFeedback())


def rows(layer):
    return list(layer.getFeatures())


def canberra_layer(path):
    layer = QgsVectorLayer(str(path), "canberra", "ogr")
    assert layer.isValid()
    return layer


def test_canberra_every_uri_belongs_to_its_polygon(qgis_app, fresh_server, canberra_zip):
    server = fresh_server(job_seconds=0.1)
    result = dispatch(str(canberra_zip), server.wps_url)
    out = rows(result["OUTPUT"])
    source = canberra_layer(canberra_zip)
    inputs = list(source.getFeatures())
    assert len(out) == len(inputs) == 86
    assert result["SUCCEEDED"] == 86
    received = {job["url"]: job for job in server.received()}
    assert len(received) == 86  # one job per polygon, none repeated
    for feature, row in zip(inputs, out):
        assert row["UID"] == feature["UID"]  # input order and fields kept
        assert row["wit_status"] == "succeeded" and not row["wit_error"]
        job = received[row["wit_url"]]
        assert same_rings(received_rings(job["geometry"]), lonlat_rings(source, feature))
        assert (job["start"], job["end"]) == (START, END)
        assert row.geometry().equals(feature.geometry())


@pytest.mark.slow
def test_failed_features_carry_the_server_text_and_the_run_goes_on(qgis_app, fresh_server, canberra_zip):
    source = canberra_layer(canberra_zip)
    failing = [lonlat_rings(source, f)[0][0][0] for f in list(source.getFeatures())[:5]]
    boxes = [[x - 1e-6, y - 1e-6, x + 1e-6, y + 1e-6] for x, y in failing]
    server = fresh_server(job_seconds=0.1, fail_boxes=boxes)
    feedback = RecordingFeedback()
    result = dispatch(str(canberra_zip), server.wps_url, feedback)
    out = rows(result["OUTPUT"])
    assert [r["wit_status"] for r in out[:5]] == ["failed"] * 5
    assert out[0]["wit_error"] == "NoApplicableCode: Process error: no data for this polygon"
    assert not out[0]["wit_url"]
    assert (result["FAILED"], result["SUCCEEDED"]) == (5, 81)
    assert any("5 failed" in line for line in feedback.infos)


def test_max_perimeter_and_missing_geometry_are_skipped(qgis_app, fresh_server):
    server = fresh_server(job_seconds=0.05)
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326&field=name:string", "lakes", "memory")
    features = []
    for name, wkt in [("small", "POLYGON((149 -35, 149.01 -35, 149.01 -35.01, 149 -35))"),
                      ("nothing", None),
                      ("large", "POLYGON((149 -35, 150 -35, 150 -36, 149 -35))")]:
        feature = QgsFeature(layer.fields())
        feature["name"] = name
        if wkt:
            feature.setGeometry(QgsGeometry.fromWkt(wkt))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    result = dispatch(layer, server.wps_url, MAX_PERIMETER=50000)
    out = {r["name"]: r for r in rows(result["OUTPUT"])}
    assert out["small"]["wit_status"] == "succeeded"
    assert out["nothing"]["wit_status"] == "skipped"
    assert out["nothing"]["wit_error"] == "the feature has no geometry"
    assert out["large"]["wit_status"] == "skipped"
    assert "over MAX_PERIMETER 50000 m" in out["large"]["wit_error"]
    assert len(server.received()) == 1


def test_selected_features_only(qgis_app, fresh_server, canberra_zip):
    server = fresh_server(job_seconds=0.05)
    layer = canberra_layer(canberra_zip)
    QgsProject.instance().addMapLayer(layer)
    try:
        chosen = [f.id() for f in layer.getFeatures()][10:15]
        layer.selectByIds(chosen)
        result = dispatch(QgsProcessingFeatureSourceDefinition(layer.id(), True), server.wps_url)
        out = rows(result["OUTPUT"])
        assert [r["UID"] for r in out] == [layer.getFeature(i)["UID"] for i in chosen]
        assert len(server.received()) == 5
    finally:
        QgsProject.instance().removeMapLayer(layer.id())


def test_cancel_writes_every_feature_and_stops_submitting(qgis_app, fresh_server, canberra_zip):
    server = fresh_server(job_seconds=600)
    feedback = RecordingFeedback(cancel_when=lambda line: line.startswith("4 running"))
    result = dispatch(str(canberra_zip), server.wps_url, feedback, MAX_CONCURRENT=4)
    out = rows(result["OUTPUT"])
    assert len(out) == 86
    assert {r["wit_status"] for r in out} == {"cancelled"}  # no 600 s job was waited for
    assert result["CANCELLED"] == 86
    assert len(server.received()) <= 4


@pytest.mark.slow
def test_batch_runs_are_independent(qgis_app, fresh_server, canberra_zip):
    server = fresh_server(job_seconds=0.05)
    lakes = QgsVectorLayer("Polygon?crs=EPSG:4283&field=UID:string", "lakes", "memory")
    lake = QgsFeature(lakes.fields())
    lake["UID"] = "gda94-lake"
    lake.setGeometry(QgsGeometry.fromWkt("POLYGON((149 -35, 149.01 -35, 149.01 -35.01, 149 -35))"))
    lakes.dataProvider().addFeatures([lake])
    first = dispatch(str(canberra_zip), server.wps_url)
    second = dispatch(lakes, server.wps_url, START="2001-01-01T00:00:00")
    first_rows, second_rows = rows(first["OUTPUT"]), rows(second["OUTPUT"])
    assert (len(first_rows), len(second_rows)) == (86, 1)
    received = {job["url"]: job for job in server.received()}
    assert received[second_rows[0]["wit_url"]]["start"] == "2001-01-01T00:00:00"
    assert all(received[r["wit_url"]]["start"] == START for r in first_rows)
    assert second_rows[0]["wit_url"] not in {r["wit_url"] for r in first_rows}


def run_error(source, url, **extra):
    feedback = RecordingFeedback()
    with pytest.raises(QgsProcessingException) as raised:
        dispatch(source, url, feedback, **extra)
    return " ".join([str(raised.value.args[0])] + feedback.errors)


def test_line_layer_is_refused_before_anything_is_sent(qgis_app, wit_server):
    before = len(wit_server.received())
    lines = QgsVectorLayer("LineString?crs=EPSG:4326", "roads", "memory")
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromWkt("LINESTRING(149 -35, 149.1 -35.1)"))
    lines.dataProvider().addFeatures([feature])
    message = run_error(lines, wit_server.wps_url)
    assert "Input layer 'roads' has LineString geometries" in message
    assert len(wit_server.received()) == before


def test_end_must_be_after_start(qgis_app, wit_server, canberra_zip):
    message = run_error(str(canberra_zip), wit_server.wps_url, START="2020-01-01T00:00:00",
                        END="2010-01-01T00:00:00")
    assert "END (2010-01-01 00:00) must be after START (2020-01-01 00:00)" in message


def test_unknown_process(qgis_app, wit_server, canberra_zip):
    message = run_error(str(canberra_zip), wit_server.wps_url, PROCESS="WOFS")
    assert "does not offer a process 'WOFS'" in message


@pytest.mark.slow
def test_unreachable_server(qgis_app, canberra_zip):
    from wit_server.launch import refused_port

    with refused_port() as port:
        message = run_error(str(canberra_zip), "http://127.0.0.1:%d/wps" % port)
    assert "cannot reach the WPS server at 127.0.0.1" in message


def test_url_that_is_not_http(qgis_app, canberra_zip):
    message = run_error(str(canberra_zip), "ftp://example.org/wps")
    assert "WPS_URL 'ftp://example.org/wps' is not an http:// or https:// URL" in message


def test_defaults(qgis_app):
    from qgis.core import QgsApplication, QgsProcessingParameterDefinition

    algorithm = QgsApplication.processingRegistry().createAlgorithmById("wit:dispatchwit")
    end = algorithm.parameterDefinition("END")
    assert end.defaultValue() is None and end.flags() & QgsProcessingParameterDefinition.FlagOptional
    assert algorithm.parameterDefinition("MAX_CONCURRENT").defaultValue() == 2
    assert algorithm.parameterDefinition("WPS_URL").defaultValue().startswith("https://ows.dev.dea.ga.gov.au/wps/")
