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


# The forms WPS 1.0.0's schemas allow beside the ones PyWPS writes. No server that writes them is
# reachable from here, so each document is the recorded PyWPS one with only the element in
# question changed to the schema's form (wpsExecute_response.xsd, owsExceptionReport.xsd 1.1).
SCHEMA_FAILED = (b"<wps:ProcessFailed>\n            <ows:ExceptionReport version=\"1.0.0\">",
                 b"</ows:ExceptionReport>\n        </wps:ProcessFailed>")


def schema_failed(exception: bytes = None) -> bytes:
    """status_failed.xml with the ows:ExceptionReport ProcessFailedType requires, not PyWPS's wps: one."""
    body = read("status_failed.xml")
    body = body.replace(b"<wps:ProcessFailed>\n            <wps:ExceptionReport>", SCHEMA_FAILED[0])
    body = body.replace(b"</wps:ExceptionReport>\n        </wps:ProcessFailed>", SCHEMA_FAILED[1])
    assert SCHEMA_FAILED[0] in body and b"wps:ExceptionReport" not in body  # the recording still has that shape
    if exception is not None:
        start, end = body.index(b"<ows:Exception "), body.index(b"</ows:Exception>") + len(b"</ows:Exception>")
        body = body[:start] + exception + body[end:]
    return body


def test_a_failure_in_the_schemas_form_keeps_its_code_and_reason():
    status = wps.parse_status(schema_failed())
    assert status.state == job_states.FAILED
    assert status.error == "NoApplicableCode: Process error: no data for this polygon"


@pytest.mark.parametrize("exception, error", [
    (b"<ows:Exception><ows:ExceptionText>out of memory</ows:ExceptionText></ows:Exception>", "out of memory"),
    (b'<ows:Exception exceptionCode="NoApplicableCode"/>', "NoApplicableCode"),
    (b"<ows:Exception><ows:ExceptionText>no data</ows:ExceptionText><ows:ExceptionText>for 1987</ows:ExceptionText>"
     b"</ows:Exception>", "no data; for 1987"),
    (b"<ows:Exception/>", "the server reported failure without a reason"),
])
def test_a_failure_without_a_code_or_text_says_what_it_has(exception, error):
    assert wps.parse_status(schema_failed(exception)).error == error


def test_a_result_given_as_a_reference_is_read():
    """OutputDataType is a choice of wps:Data and wps:Reference: the URL may come as an href."""
    body = read("status_succeeded.xml")
    start, end = body.index(b"<wps:Data>"), body.index(b"</wps:Data>") + len(b"</wps:Data>")
    body = body[:start] + b'<wps:Reference href="s3://bucket/wit/abc/abc.snappy.parquet" mimeType="text/plain"/>' \
        + body[end:]
    assert wps.parse_status(body).url == "s3://bucket/wit/abc/abc.snappy.parquet"


@pytest.mark.parametrize("form, state", [
    (b"<wps:ProcessAccepted/>", job_states.ACCEPTED),  # the schema's string may be empty
    (b'<wps:ProcessStarted percentCompleted="40">computing</wps:ProcessStarted>', job_states.STARTED),
    (b'<wps:ProcessPaused percentCompleted="40"/>', job_states.PAUSED),
])
def test_state_elements_with_the_attributes_and_empty_text_the_schema_allows(form, state):
    body = read("execute_accepted.xml")
    start = body.index(b"<wps:ProcessAccepted")
    end = body.index(b"</wps:ProcessAccepted>") + len(b"</wps:ProcessAccepted>")
    status = wps.parse_status(body[:start] + form + body[end:])
    assert status.state == state
    assert not status.finished and status.status_location.startswith("http://127.0.0.1:")


def test_an_exception_report_without_a_code_keeps_its_text():
    body = read("exception_missing_input.xml")
    start = body.index(b"<ows:Exception ")
    body = body[:start] + b"<ows:Exception " + re.sub(rb'exceptionCode="[^"]*"', b"", body[start + 15:], count=1)
    error = wps.exception_from(body)
    assert error.code == "" and error.text and str(error) == error.text and not error.transient


@pytest.mark.parametrize("name", ["status_succeeded.xml", "capabilities.xml", "describe_wit.xml"])
def test_a_wps_0_4_0_document_is_refused_as_such(name):
    body = read(name).replace(b"http://www.opengis.net/wps/1.0.0", b"http://www.opengeospatial.net/wps")
    body = body.replace(b'version="1.0.0"', b'version="0.4.0"')
    parse = {"status_succeeded.xml": wps.parse_status, "capabilities.xml": wps.process_identifiers,
             "describe_wit.xml": wps.input_identifiers}[name]
    with pytest.raises(WpsParseError, match=r"a WPS 0\.4\.0 document: WIT Dispatcher speaks WPS 1\.0\.0"):
        parse(body)


def test_a_1_0_0_namespace_with_another_version_is_refused_as_such():
    body = read("status_succeeded.xml").replace(b'service="WPS" version="1.0.0"', b'service="WPS" version="0.4.0"')
    with pytest.raises(WpsParseError, match=r"a WPS 0\.4\.0 document: WIT Dispatcher speaks WPS 1\.0\.0"):
        wps.parse_status(body)


@pytest.mark.parametrize("failed, error", [
    (b"<wps:ProcessFailed>disk full</wps:ProcessFailed>", "disk full"),
    (b'<wps:ProcessFailed><ows:ExceptionReport version="1.0.0">disk full</ows:ExceptionReport></wps:ProcessFailed>',
     "disk full"),
    (b'<wps:ProcessFailed><ows:ExceptionReport version="1.0.0"><ows:Exception>disk full</ows:Exception>'
     b"</ows:ExceptionReport></wps:ProcessFailed>", "disk full"),
])
def test_a_failure_given_as_plain_text_keeps_it(failed, error):
    body = read("status_failed.xml")
    start, end = body.index(b"<wps:ProcessFailed>"), body.index(b"</wps:ProcessFailed>") + len(b"</wps:ProcessFailed>")
    status = wps.parse_status(body[:start] + failed + body[end:])
    assert status.state == job_states.FAILED and status.error == error


def test_an_exception_report_of_plain_text_keeps_it():
    body = (b'<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1" version="1.0.0">'
            b"<ows:Exception>no such process</ows:Exception></ows:ExceptionReport>")
    assert str(wps.exception_from(body)) == "no such process"
    with pytest.raises(WpsException, match="no such process"):
        wps.parse_status(body)


@pytest.mark.parametrize("output", [b"<wps:Output/>", b"<wps:Output><wps:Reference>s3://b/k</wps:Reference></wps:Output>"])
def test_a_success_without_a_readable_url_is_a_parse_error(output):
    body = read("status_succeeded.xml")
    start, end = body.index(b"<wps:Output>"), body.index(b"</wps:Output>") + len(b"</wps:Output>")
    with pytest.raises(WpsParseError, match="without an output 'url'"):
        wps.parse_status(body[:start] + output + body[end:])


def test_a_1_0_version_spelled_short_is_still_1_0_0():
    body = read("status_succeeded.xml").replace(b'service="WPS" version="1.0.0"', b'service="WPS" version="1.0"')
    assert wps.parse_status(body).url.startswith("s3://")
