"""The HTTP client against a real PyWPS WIT server on 127.0.0.1 (and a few things that are not one)."""

import http.server
import json
import threading
from datetime import datetime

import pytest
from wit_dispatcher.wit_provider.common import job_states
from wit_dispatcher.wit_provider.dispatch import wps
from wit_dispatcher.wit_provider.dispatch.client import ServiceError, TransientError, WpsClient, kvp_url
from wit_server.launch import refused_port

SQUARE = {"type": "Polygon", "coordinates": [[[149.1, -35.3], [149.2, -35.3], [149.2, -35.2], [149.1, -35.3]]]}


def execute(geometry=SQUARE):
    collection = wps.feature_collection(json.dumps(geometry))
    return wps.build_execute("WIT", collection, datetime(2010, 1, 1), datetime(2011, 1, 1))


@pytest.fixture
def html_server():
    """A web server that is not a WPS: every GET gets an HTML page."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html><body>Welcome</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/wps" % server.server_address[1]
    server.shutdown()


def test_kvp_url_replaces_wps_parameters_and_keeps_the_rest():
    url = kvp_url("https://h/wps/?service=WPS&request=Execute&token=abc", service="WPS", request="GetCapabilities")
    assert url == "https://h/wps/?token=abc&service=WPS&request=GetCapabilities"


def test_check_process_accepts_the_wit_server(wit_server):
    WpsClient(wit_server.wps_url).check_process("WIT")


def test_unknown_process_is_named(wit_server):
    with pytest.raises(ServiceError, match="does not offer a process 'NOPE' \\(it offers: WIT\\)"):
        WpsClient(wit_server.wps_url).check_process("NOPE")


def test_not_a_wps(html_server):
    with pytest.raises(ServiceError, match="did not answer as an OGC WPS 1.0.0 server"):
        WpsClient(html_server, preflight_seconds=1).check_process("WIT")


def test_unreachable_server():
    with refused_port() as port, pytest.raises(ServiceError, match="cannot reach the WPS server at 127.0.0.1"):
        WpsClient("http://127.0.0.1:%d/wps" % port, preflight_seconds=1).check_process("WIT")


def test_submit_and_poll_to_success(wit_server):
    client = WpsClient(wit_server.wps_url)
    status = client.submit(execute())
    assert status.state == job_states.ACCEPTED
    for _ in range(1000):  # PyWPS rewrites the document in place: an empty read is transient
        try:
            status = client.poll(status.status_location)
        except TransientError:
            continue
        if status.finished:
            break
    assert status.state == job_states.SUCCEEDED
    job = [r for r in wit_server.received() if r["url"] == status.url]
    assert len(job) == 1 and job[0]["geometry"] == SQUARE


def test_refused_connection_is_a_transient_unsent_error():
    with refused_port() as port, pytest.raises(TransientError) as raised:
        WpsClient("http://127.0.0.1:%d/wps" % port).submit(execute())
    assert raised.value.unsent


def test_missing_status_document_is_transient(wit_server):
    with pytest.raises(TransientError, match="404"):
        WpsClient(wit_server.wps_url).poll(wit_server.base_url + "/outputs/no-such-job.xml")


def test_html_status_page_is_transient(html_server):
    with pytest.raises(TransientError, match="unreadable status document"):
        WpsClient(html_server).poll(html_server + "/status.xml")

