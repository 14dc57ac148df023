"""TLS verification stays on: an unknown CA is refused; a CA configured in QGIS settings is trusted."""

import http.server
import ssl
import subprocess
import threading

import pytest
from qgis.core import QgsSettings
from wit_dispatcher.wit_provider.dispatch.client import ServiceError, WpsClient
from wit_dispatcher.wit_provider.qgis_bridge.network import CA_BUNDLE_SETTING, ca_bundle
from wit_dispatcher.wit_provider.results.fetch import Fetcher, FetchError
from wit_server.fast import FastWit


def openssl(*arguments, cwd):
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True)


def certificates(tmp_path):
    """A CA of this test's own and a certificate it signed for 127.0.0.1: (ca.pem, SSL server context)."""
    # The extensions Python 3.13's strict verification asks of a CA and of a server certificate.
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=WIT test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=tmp_path)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
            "-out", "server.csr", cwd=tmp_path)
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1\nauthorityKeyIdentifier=keyid\n"
                                      "keyUsage=critical,digitalSignature,keyEncipherment\n"
                                      "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "1", "-extfile", "san.ext", "-out", "server.pem", cwd=tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    return tmp_path / "ca.pem", context


@pytest.fixture
def https_wit(tmp_path):
    """The light WIT server over HTTPS, with a certificate from a CA of this test's own."""
    ca, context = certificates(tmp_path)
    wit = FastWit(job_seconds=0.1)
    wit.server.socket = context.wrap_socket(wit.server.socket, server_side=True)
    wit.base_url = wit.base_url.replace("http://", "https://")
    threading.Thread(target=wit.serve, daemon=True).start()
    yield wit, ca
    wit.server.shutdown()


class _ResultFile(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"PAR1")

    def log_message(self, *_):
        pass


@pytest.fixture
def https_result(tmp_path):
    """An https:// result file's URL, served with a certificate from a CA of this test's own; that CA."""
    ca, context = certificates(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ResultFile)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "https://127.0.0.1:%d/wit/a.parquet" % server.server_address[1], ca
    server.shutdown()
    server.server_close()


def test_an_https_result_from_an_unknown_certificate_authority_is_refused(qgis_app, https_result):
    url, _ = https_result
    assert ca_bundle() == ""  # no CA bundle in the settings: the system's CAs, which do not know this one
    with pytest.raises(FetchError, match="^TLS certificate of 127.0.0.1:\\d+ not trusted$"):
        Fetcher(ca_bundle=ca_bundle()).fetch(url)


def test_an_https_result_is_read_with_the_ca_bundle_from_qgis_settings(qgis_app, https_result):
    url, ca = https_result
    settings = QgsSettings()
    settings.setValue(CA_BUNDLE_SETTING, str(ca))
    try:
        assert Fetcher(ca_bundle=ca_bundle()).fetch(url) == b"PAR1"
    finally:
        settings.remove(CA_BUNDLE_SETTING)


def test_unknown_certificate_authority_is_refused(https_wit):
    wit, _ = https_wit
    with pytest.raises(ServiceError, match="TLS certificate of 127.0.0.1:\\d+ could not be verified"):
        WpsClient(wit.wps_url, connect_timeout=5).check_process("WIT")


def test_a_tls_failure_names_the_host_but_not_the_urls_query(https_wit):
    wit, _ = https_wit
    with pytest.raises(ServiceError) as raised:
        WpsClient(wit.wps_url + "&token=s3cr3t-t0ken", connect_timeout=5).check_process("WIT")
    assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value) and "s3cr3t" not in str(raised.value)


def test_ca_bundle_from_qgis_settings_is_trusted(qgis_app, https_wit):
    wit, ca = https_wit
    settings = QgsSettings()
    settings.setValue(CA_BUNDLE_SETTING, str(ca))
    try:
        WpsClient(wit.wps_url, ca_bundle=ca_bundle()).check_process("WIT")
    finally:
        settings.remove(CA_BUNDLE_SETTING)
    assert ca_bundle() == ""
