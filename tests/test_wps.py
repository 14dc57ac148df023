"""The WPS dialect: Execute documents byte for byte, and replies recorded from a real PyWPS."""

import json
import re
from datetime import datetime

import pytest
from conftest import RECORDED
from wit_dispatcher.wit_provider.common import job_states
from wit_dispatcher.wit_provider.dispatch import wps
from wit_dispatcher.wit_provider.dispatch.wps import WpsException, WpsParseError

SQUARE = {"type": "Polygon", "coordinates": [[[149.1, -35.3], [149.2, -35.3], [149.2, -35.2], [149.1, -35.3]]]}

# The DEA dialect, written out by hand from design.md: one-line GeoJSON right after
# <wps:ComplexData>, no mimeType, TerriaJS date objects, asynchronous ResponseDocument.
EXPECTED = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<wps:Execute xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:wps="http://www.opengis.net/wps/1.0.0" '
    b'service="WPS" version="1.0.0"><ows:Identifier>WIT</ows:Identifier><wps:DataInputs>'
    b'<wps:Input><ows:Identifier>geometry</ows:Identifier><wps:Data><wps:ComplexData>'
    b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon",'
    b'"coordinates":[[[149.1,-35.3],[149.2,-35.3],[149.2,-35.2],[149.1,-35.3]]]},"properties":{}}]}'
    b'</wps:ComplexData></wps:Data></wps:Input>'
    b'<wps:Input><ows:Identifier>start</ows:Identifier><wps:Data><wps:ComplexData>'
    b'{"type":"object","properties":{"timestamp":{"type":"string","format":"date-time",'
    b'"date-time":"2010-01-01T00:00"}}}</wps:ComplexData></wps:Data></wps:Input>'
    b'<wps:Input><ows:Identifier>end</ows:Identifier><wps:Data><wps:ComplexData>'
    b'{"type":"object","properties":{"timestamp":{"type":"string","format":"date-time",'
    b'"date-time":"2020-06-30T12:30"}}}</wps:ComplexData></wps:Data></wps:Input>'
    b'</wps:DataInputs><wps:ResponseForm>'
    b'<wps:ResponseDocument storeExecuteResponse="true" status="true" /></wps:ResponseForm></wps:Execute>'
)


def execute(process="WIT", geometry=SQUARE):
    return wps.build_execute(process, wps.feature_collection(json.dumps(geometry, separators=(",", ":"))),
                             datetime(2010, 1, 1), datetime(2020, 6, 30, 12, 30))


def test_execute_is_byte_exact_dea_dialect():
    assert execute() == EXPECTED


def test_geometry_is_one_line_straight_after_complexdata():
    body = execute().decode()
    first = body.split("<wps:ComplexData>")[1]
    assert first.startswith('{"type":"FeatureCollection"')
    line = first.split("</wps:ComplexData>")[0]
    assert "\n" not in line and len(json.loads(line)["features"]) == 1
    assert "mimeType" not in body


def test_user_values_are_escaped_not_pasted():
    body = execute(process='W<I>&"T').decode()
    assert "<ows:Identifier>W&lt;I&gt;&amp;\"T</ows:Identifier>" in body
    parsed = __import__("xmltodict").parse(body)
    assert parsed["wps:Execute"]["ows:Identifier"] == 'W<I>&"T'


def test_multi_line_geometry_is_refused():
    with pytest.raises(ValueError, match="one line"):
        wps.feature_collection(json.dumps(SQUARE, indent=1))


def read(name):
    return (RECORDED / name).read_bytes()


@pytest.mark.parametrize("name, state", [
    ("execute_accepted.xml", job_states.ACCEPTED),
    ("status_started.xml", job_states.STARTED),
    ("status_succeeded.xml", job_states.SUCCEEDED),
    ("status_failed.xml", job_states.FAILED),
])
def test_status_states(name, state):
    status = wps.parse_status(read(name))
    assert status.state == state
    assert status.status_location.startswith("http://127.0.0.1:")
    assert status.finished == (state in (job_states.SUCCEEDED, job_states.FAILED))


def test_success_carries_the_s3_uri():
    status = wps.parse_status(read("status_succeeded.xml"))
    assert re.fullmatch(r"s3://test-bucket/wit/([0-9a-f-]+)/\1\.snappy\.parquet", status.url)


def test_failure_carries_the_server_text():
    status = wps.parse_status(read("status_failed.xml"))
    assert status.error == "NoApplicableCode: Process error: no data for this polygon"


def test_paused_is_still_running():
    body = read("status_started.xml").replace(b"ProcessStarted", b"ProcessPaused")
    assert wps.parse_status(body).state == job_states.PAUSED
    assert job_states.PAUSED not in job_states.FINISHED


def test_parsing_goes_by_namespace_not_prefix():
    body = read("status_succeeded.xml").replace(b"wps:", b"p1:").replace(b"xmlns:wps", b"xmlns:p1")
    body = body.replace(b"ows:", b"o:").replace(b"xmlns:ows", b"xmlns:o")
    assert wps.parse_status(body) == wps.parse_status(read("status_succeeded.xml"))


def test_wrong_namespace_is_not_accepted():
    body = read("status_succeeded.xml").replace(b"http://www.opengis.net/wps/1.0.0", b"urn:other")
    with pytest.raises(WpsParseError):
        wps.parse_status(body)


@pytest.mark.parametrize("name, code, transient", [
    ("exception_invalid_mimetype.xml", "InvalidParameterValue", False),
    ("exception_missing_input.xml", "MissingParameterValue", False),
    ("exception_file_size.xml", "FileSizeExceeded", False),
    ("exception_server_busy.xml", "ServerBusy", True),
])
def test_http_400_exception_reports(name, code, transient):
    error = wps.exception_from(read(name))
    assert error.code == code and error.transient is transient
    assert error.text
    with pytest.raises(WpsException) as raised:
        wps.parse_status(read(name))
    assert raised.value.code == code


@pytest.mark.parametrize("body", [
    b"<html><body>502 Bad Gateway</body></html>",
    b"",
    b"not xml at all",
])
def test_unreadable_replies(body):
    with pytest.raises(WpsParseError):
        wps.parse_status(body)
    assert wps.exception_from(body) is None


def test_truncated_status_is_a_parse_error():
    body = read("status_succeeded.xml")
    with pytest.raises(WpsParseError):
        wps.parse_status(body[: len(body) // 2])


def test_capabilities_and_description():
    assert wps.process_identifiers(read("capabilities.xml")) == ["WIT"]
    assert wps.input_identifiers(read("describe_wit.xml")) == ["geometry", "start", "end"]
    assert wps.missing_inputs(read("describe_wit.xml")) == []
    with pytest.raises(WpsException):
        wps.missing_inputs(read("describe_unknown.xml"))
