"""Credentials go to the WPS host only; QGIS's proxy settings are used; secrets stay out of everything."""

import base64

import pytest
from fault_proxy import FaultProxy
from qgis.core import (
    QgsApplication,
    QgsAuthMethodConfig,
    QgsFeature,
    QgsGeometry,
    QgsNetworkAccessManager,
    QgsProcessingException,
    QgsSettings,
    QgsVectorLayer,
)
from qgis_helpers import RecordingFeedback
from test_algorithm import dispatch

SECRET = "s3cret-Pa55-7d1e"


def lakes(count=3):
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326&field=name:string", "lakes", "memory")
    features = []
    for i in range(count):
        feature = QgsFeature(layer.fields())
        feature["name"] = "lake%d" % i
        x = 149 + i / 10
        wkt = "POLYGON((%s -35, %s -35, %s -35.01, %s -35))" % (x, x + .01, x + .01, x)
        feature.setGeometry(QgsGeometry.fromWkt(wkt))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


def auth_config(method, **values):
    manager = QgsApplication.authManager()
    if not manager.masterPasswordIsSet():
        assert manager.setMasterPassword("wit-test-master", True)
    config = QgsAuthMethodConfig(method)
    config.setName("wit test %s" % method)
    for key, value in values.items():
        config.setConfig(key, value)
    assert manager.storeAuthenticationConfig(config)
    return config.id()


def by_host(requests: list) -> tuple[list, list]:
    """The requests to the WPS host (127.0.0.1) and to the status host (127.0.0.2)."""
    return ([r for r in requests if r["host"].startswith("127.0.0.1:")],
            [r for r in requests if r["host"].startswith("127.0.0.2:")])


def test_basic_auth_reaches_the_wps_host_and_not_the_status_host(qgis_app, fresh_server, tmp_path):
    server = fresh_server(job_seconds=0.1, status_host="127.0.0.2")
    authcfg = auth_config("Basic", username="alice", password=SECRET)
    feedback = RecordingFeedback()
    output, journal = tmp_path / "out.gpkg", tmp_path / "journal.sqlite"
    before = len(server.requests_seen())  # the launcher's own readiness probes
    result = dispatch(lakes(), server.wps_url, feedback, AUTHCFG=authcfg, OUTPUT=str(output), JOURNAL=str(journal))
    assert result["SUCCEEDED"] == 3
    expected = "Basic " + base64.b64encode(("alice:" + SECRET).encode()).decode()
    wps_side, status_side = by_host(server.requests_seen()[before:])
    assert wps_side and all(r["credentials"] == {"Authorization": expected} for r in wps_side)
    assert len(status_side) >= 3 and not any(r["credentials"] for r in status_side)
    for path in (output, journal):
        assert SECRET.encode() not in path.read_bytes() and expected.encode() not in path.read_bytes()
    assert not any(SECRET in line or "alice" in line for line in feedback.infos + feedback.errors)


def test_header_based_auth_reaches_the_wps_host_and_not_the_status_host(qgis_app, fresh_server):
    server = fresh_server(job_seconds=0.05, status_host="127.0.0.2")
    authcfg = auth_config("EsriToken", token=SECRET)
    before = len(server.requests_seen())  # the launcher's own readiness probes
    assert dispatch(lakes(1), server.wps_url, AUTHCFG=authcfg)["SUCCEEDED"] == 1
    wps_side, status_side = by_host(server.requests_seen()[before:])
    assert wps_side and all(r["credentials"] == {"X-Esri-Authorization": "Bearer " + SECRET} for r in wps_side)
    assert len(status_side) >= 1 and not any(r["credentials"] for r in status_side)


def test_unsupported_auth_method_is_a_clear_error(qgis_app, wit_server):
    authcfg = auth_config("PKI-Paths", certpath="/nonexistent.pem", keypath="/nonexistent.key")
    with pytest.raises(QgsProcessingException, match="uses the PKI-Paths method; Dispatch WIT supports Basic"):
        dispatch(lakes(1), wit_server.wps_url, AUTHCFG=authcfg)


@pytest.fixture
def qgis_proxy():
    """Sets QGIS's proxy as Settings → Options → Network does, and puts it back afterwards."""
    settings = QgsSettings()

    def configure(port, excluded):
        settings.setValue("proxy/proxyEnabled", True)
        settings.setValue("proxy/proxyType", "HttpProxy")
        settings.setValue("proxy/proxyHost", "127.0.0.1")
        settings.setValue("proxy/proxyPort", str(port))
        settings.setValue("proxy/proxyExcludedUrls", excluded)
        QgsNetworkAccessManager.instance().setupDefaultProxyAndCache()

    yield configure
    settings.setValue("proxy/proxyEnabled", False)
    QgsNetworkAccessManager.instance().setupDefaultProxyAndCache()


def test_qgis_proxy_settings_and_exclusions_are_used(qgis_app, fresh_server, qgis_proxy):
    server = fresh_server(job_seconds=0.1, status_host="127.0.0.2")
    before = len(server.requests_seen())
    proxy = FaultProxy("http://proxy.invalid", rate=0.0)
    try:
        qgis_proxy(proxy.server.server_address[1], "http://127.0.0.2")
        result = dispatch(lakes(), server.wps_url)
    finally:
        proxy.stop()
    assert result["SUCCEEDED"] == 3
    assert proxy.requests["POST"] == 3  # every Execute went through the proxy
    assert proxy.requests["GET"] >= 2  # GetCapabilities and DescribeProcess too
    wps_side, status_side = by_host(server.requests_seen()[before:])
    assert len(status_side) >= 3  # status polls to the excluded host went direct
    direct_gets = [r for r in wps_side if r["method"] == "GET"]
    assert proxy.requests["GET"] == len(direct_gets)
