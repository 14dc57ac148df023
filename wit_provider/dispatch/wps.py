"""The WPS 1.0.0 dialect DEA's WIT process speaks: Execute documents out, status objects in.

No HTTP and no QGIS here, so the wire format can be tested byte for byte. Replies are
parsed by namespace URI (prefixes are the server's choice) with xmltodict.
"""

from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from xml.parsers.expat import ExpatError

from ..common import job_states
from .bundled_xmltodict import xmltodict

WPS_NS = "http://www.opengis.net/wps/1.0.0"
OWS_NS = "http://www.opengis.net/ows/1.1"
_WPS_0_4_NS = "http://www.opengeospatial.net/wps"  # WPS 0.4.0's, refused with a message that says so
_PREFIXES = {WPS_NS: "wps", OWS_NS: "ows"}
_INPUTS = ("geometry", "start", "end")
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
ET.register_namespace("wps", WPS_NS)
ET.register_namespace("ows", OWS_NS)


_STATE_ELEMENTS = {  # a status document's process state, in the project's one vocabulary of job states
    "wps:ProcessAccepted": job_states.ACCEPTED,
    "wps:ProcessStarted": job_states.STARTED,
    "wps:ProcessPaused": job_states.PAUSED,
    "wps:ProcessSucceeded": job_states.SUCCEEDED,
    "wps:ProcessFailed": job_states.FAILED,
}

# Exception codes that say nothing about the request itself: asking again may work.
TRANSIENT_CODES = frozenset({"ServerBusy"})


@dataclass(frozen=True)
class JobStatus:
    """One reading of a job: its state and, once finished, its result or reason."""

    state: str  # one of job_states' words: ACCEPTED, STARTED, PAUSED, SUCCEEDED or FAILED
    status_location: str | None = None
    url: str | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in job_states.FINISHED


class WpsParseError(ValueError):
    """The reply is not a WPS document we understand (HTML page, truncated XML, ...)."""


class WpsVersionError(WpsParseError):
    """A WPS document of a version before 1.0.0: asking again will not change the server's version."""


class WpsException(Exception):
    """An OWS exception report: the server refused the request."""

    def __init__(self, code: str, text: str, locator: str = ""):
        super().__init__(": ".join(part for part in (code, text) if part)
                         or "the server reported failure without a reason")
        self.code = code
        self.text = text
        self.locator = locator

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_CODES


@functools.lru_cache(maxsize=16)
def date_object(moment: datetime) -> str:
    """The TerriaJS date-time object DEA's WIT reads for ``start`` and ``end``."""
    return json.dumps(
        {"type": "object", "properties": {"timestamp": {
            "type": "string", "format": "date-time", "date-time": moment.strftime("%Y-%m-%dT%H:%M")}}},
        separators=(",", ":"))


def feature_collection(geometry_json: str) -> str:
    """One-line GeoJSON FeatureCollection with exactly one feature, as the server's readline() needs.

    ``geometry_json`` is compact GeoJSON geometry text (from QGIS's JSON writer or json.dumps).
    """
    if "\n" in geometry_json or "\r" in geometry_json:
        raise ValueError("geometry JSON must be on one line")
    return '{"type":"FeatureCollection","features":[{"type":"Feature","geometry":%s,"properties":{}}]}' \
        % geometry_json


def build_execute(process: str, geometry_collection: str, start: datetime, end: datetime) -> bytes:
    """An asynchronous Execute request; values go in as element text, escaped by ElementTree."""
    root = ET.Element("{%s}Execute" % WPS_NS, {"service": "WPS", "version": "1.0.0"})
    ET.SubElement(root, "{%s}Identifier" % OWS_NS).text = process
    inputs = ET.SubElement(root, "{%s}DataInputs" % WPS_NS)
    for name, value in zip(_INPUTS, (geometry_collection, date_object(start), date_object(end))):
        item = ET.SubElement(inputs, "{%s}Input" % WPS_NS)
        ET.SubElement(item, "{%s}Identifier" % OWS_NS).text = name
        data = ET.SubElement(item, "{%s}Data" % WPS_NS)
        ET.SubElement(data, "{%s}ComplexData" % WPS_NS).text = value
    form = ET.SubElement(root, "{%s}ResponseForm" % WPS_NS)
    ET.SubElement(form, "{%s}ResponseDocument" % WPS_NS,
                  {"storeExecuteResponse": "true", "status": "true"})
    return (_XML_DECLARATION + ET.tostring(root, encoding="unicode")).encode("utf-8")


def _parse(body: bytes) -> dict:
    try:
        document = xmltodict.parse(body, process_namespaces=True, namespaces=_PREFIXES)
    except (ExpatError, ValueError) as error:
        snippet = body[:80].decode("utf-8", "replace").replace("\n", " ")
        raise WpsParseError("not a WPS XML document (%s): %r" % (error, snippet)) from None
    for name, root in document.items():
        version = (root.get("@version") or "") if isinstance(root, dict) else ""
        if name.startswith(_WPS_0_4_NS + ":") or (name.startswith("wps:") and version.startswith("0.")):
            raise WpsVersionError("a WPS %s document: WIT Dispatcher speaks WPS 1.0.0 only (%s)"
                                  % (version or "0.4.0", name.rsplit(":", 1)[-1]))
    return document


def _root(document: dict, name: str) -> dict:
    """The document's ``name`` element, or WpsParseError saying what came instead."""
    root = document.get(name)
    if not isinstance(root, dict):
        raise WpsParseError("expected %s, got %s" % (name, ", ".join(document) or "nothing"))
    return root


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value) -> str:
    if isinstance(value, dict):
        value = value.get("#text")
    return (value or "").strip()


def _exception(report) -> WpsException:
    """The first ows:Exception of a report: its code (if the server gave one), texts and locator.

    A report or exception that is plain text (no elements) is taken as the reason itself."""
    if not isinstance(report, dict) or "ows:Exception" not in report:
        return WpsException("", _text(report))
    first = (_as_list(report.get("ows:Exception")) or [{}])[0]
    if not isinstance(first, dict):
        return WpsException("", _text(first))
    texts = [_text(t) for t in _as_list(first.get("ows:ExceptionText"))]
    return WpsException(first.get("@exceptionCode") or "", "; ".join(t for t in texts if t),
                        first.get("@locator", "") or "")


def exception_from(body: bytes) -> WpsException | None:
    """The exception in an ``ows:ExceptionReport`` reply, or None if the body is something else."""
    try:
        document = _parse(body)
    except WpsParseError:
        return None
    report = document.get("ows:ExceptionReport")
    return _exception(report) if isinstance(report, dict) else None


def parse_status(body: bytes) -> JobStatus:
    """An ExecuteResponse (the Execute reply or a status document) as a JobStatus.

    Raises WpsException for an exception report and WpsParseError for anything unreadable.
    """
    document = _parse(body)
    if "ows:ExceptionReport" in document:
        raise _exception(document["ows:ExceptionReport"] or {})
    response = _root(document, "wps:ExecuteResponse")
    status = response.get("wps:Status") or {}
    found = [(element, state) for element, state in _STATE_ELEMENTS.items() if element in status]
    if not found:
        raise WpsParseError("wps:Status has no known process state")
    element, state = found[0]
    location = response.get("@statusLocation")
    if state == job_states.FAILED:
        failed = status[element]
        # WPS 1.0.0's ProcessFailedType holds an ows:ExceptionReport; PyWPS writes wps:ExceptionReport
        report = (failed.get("ows:ExceptionReport") or failed.get("wps:ExceptionReport") or {}
                  if isinstance(failed, dict) else failed)
        return JobStatus(state, location, error=str(_exception(report)))
    if state == job_states.SUCCEEDED:
        url = _output(response, "url")
        if not url:
            raise WpsParseError("ProcessSucceeded without an output 'url'")
        return JobStatus(state, location, url=url)
    return JobStatus(state, location)


def _output(response: dict, identifier: str) -> str | None:
    outputs = (response.get("wps:ProcessOutputs") or {}).get("wps:Output")
    for output in _as_list(outputs):
        if isinstance(output, dict) and _text(output.get("ows:Identifier")) == identifier:
            data = output.get("wps:Data")
            reference = output.get("wps:Reference")  # OutputDataType: wps:Data or wps:Reference
            literal = _text(data.get("wps:LiteralData")) if isinstance(data, dict) else ""
            href = (reference.get("@href") or "").strip() if isinstance(reference, dict) else ""
            return literal or href or None
    return None


def process_identifiers(capabilities: bytes) -> list[str]:
    """The process identifiers a GetCapabilities reply offers."""
    document = _parse(capabilities)
    root = _root(document, "wps:Capabilities")
    offerings = (root.get("wps:ProcessOfferings") or {}).get("wps:Process")
    return [_text(p.get("ows:Identifier")) for p in _as_list(offerings)]


def input_identifiers(description: bytes) -> list[str]:
    """The input identifiers of the first process in a DescribeProcess reply."""
    document = _parse(description)
    if "ows:ExceptionReport" in document:
        raise _exception(document["ows:ExceptionReport"] or {})
    root = _root(document, "wps:ProcessDescriptions")
    process = (_as_list(root.get("ProcessDescription")) or [{}])[0]
    inputs = (process.get("DataInputs") or {}).get("Input")
    return [_text(i.get("ows:Identifier")) for i in _as_list(inputs)]


def missing_inputs(description: bytes) -> list[str]:
    """Which of WIT's three inputs a DescribeProcess reply lacks."""
    offered = set(input_identifiers(description))
    return [name for name in _INPUTS if name not in offered]
