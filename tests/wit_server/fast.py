"""A light WIT-compatible WPS for benchmarks: exact job times, no process per job.

Speaks the same WPS 1.0.0 as the PyWPS server (its GetCapabilities and DescribeProcess
replies are the ones recorded from PyWPS) and reads inputs the same way (one
readline(), exactly one feature, TerriaJS dates), but a job is only a start time:
its status is Started until ``job_seconds`` have passed, then Succeeded. With
``seconds_per_km2``, a job takes that many seconds per km² of its polygon instead,
within ``AREA_SECONDS`` (WIT's time grows with the area). Keep-alive HTTP/1.1, so a
client's connection reuse shows in ``/stats`` (connections opened).

Run: python -m wit_server.fast --port 8080 --job-seconds 1 [--seconds-per-km2 2]
"""

from __future__ import annotations

import argparse
import http.server
import io
import json
import math
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import xmltodict

RECORDED = Path(__file__).resolve().parents[1] / "recorded"
WPS = "http://www.opengis.net/wps/1.0.0"
OWS = "http://www.opengis.net/ows/1.1"
_NAMESPACES = {WPS: "wps", OWS: "ows"}
AREA_SECONDS = (1.0, 60.0)  # bounds of a job's time with seconds_per_km2
EARTH_RADIUS_KM = 6371.0088

_STATUS = ('<?xml version="1.0" encoding="UTF-8"?>\n<wps:ExecuteResponse xmlns:wps="%s" xmlns:ows="%s" '
           'service="WPS" version="1.0.0" xml:lang="en-US" statusLocation="{location}"><wps:Process>'
           '<ows:Identifier>WIT</ows:Identifier></wps:Process><wps:Status creationTime="{created}">{state}'
           '</wps:Status>{outputs}</wps:ExecuteResponse>' % (WPS, OWS))
_OUTPUTS = ('<wps:ProcessOutputs><wps:Output><ows:Identifier>url</ows:Identifier><ows:Title>WIT result location'
            '</ows:Title><wps:Data><wps:LiteralData dataType="string">{url}</wps:LiteralData></wps:Data>'
            '</wps:Output></wps:ProcessOutputs>')
_REPORT = ('<?xml version="1.0" encoding="UTF-8"?>\n<ows:ExceptionReport xmlns:ows="%s" version="1.0.0">'
           '<ows:Exception exceptionCode="{code}" locator=""><ows:ExceptionText>{text}</ows:ExceptionText>'
           '</ows:Exception></ows:ExceptionReport>' % OWS)


class FastWit:
    def __init__(self, port: int = 0, job_seconds: float = 1.0, seconds_per_km2: float | None = None):
        self.job_seconds = job_seconds
        self.seconds_per_km2 = seconds_per_km2
        self.jobs: dict[str, tuple[float, float]] = {}  # job -> (start, seconds it takes)
        self.stats = {"connections": 0, "executes": 0, "status_requests": 0}
        self.lock = threading.Lock()
        self.capabilities = (RECORDED / "capabilities.xml").read_bytes()
        self.description = (RECORDED / "describe_wit.xml").read_bytes()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.base_url = "http://127.0.0.1:%d" % self.server.server_address[1]

    @property
    def wps_url(self) -> str:
        return self.base_url + "/wps?service=WPS&request=Execute"

    def execute(self, body: bytes) -> tuple[int, bytes]:
        try:
            inputs = _inputs(body)
            collection = json.loads(io.StringIO(inputs["geometry"]).readline())
            if len(collection["features"]) != 1:
                raise ValueError("expected exactly one feature")
            for name in ("start", "end"):
                datetime.fromisoformat(json.loads(inputs[name])["properties"]["timestamp"]["date-time"])
            seconds = self.job_seconds
            if self.seconds_per_km2 is not None:
                low, high = AREA_SECONDS
                seconds = min(high, max(low, self.seconds_per_km2 * area_km2(collection["features"][0]["geometry"])))
        except (KeyError, ValueError, TypeError) as error:
            return 400, _REPORT.format(code="InvalidParameterValue", text=str(error)).encode()
        job = str(uuid.uuid4())
        with self.lock:
            self.jobs[job] = (time.monotonic(), seconds)
            self.stats["executes"] += 1
        return 200, self._status(job, "<wps:ProcessAccepted>accepted</wps:ProcessAccepted>")

    def status(self, job: str) -> tuple[int, bytes]:
        with self.lock:
            started, seconds = self.jobs.get(job, (None, 0.0))
            self.stats["status_requests"] += 1
        if started is None:
            return 404, b"not found"
        if time.monotonic() - started < seconds:
            return 200, self._status(job, '<wps:ProcessStarted percentCompleted="0">running</wps:ProcessStarted>')
        url = "s3://bench-bucket/wit/%s/%s.snappy.parquet" % (job, job)
        return 200, self._status(job, "<wps:ProcessSucceeded>done</wps:ProcessSucceeded>", _OUTPUTS.format(url=url))

    def _status(self, job: str, state: str, outputs: str = "") -> bytes:
        return _STATUS.format(location="%s/status/%s.xml" % (self.base_url, job), state=state, outputs=outputs,
                              created=datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")).encode()

    def _handler(self):
        wit = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def setup(self):
                super().setup()
                with wit.lock:
                    wit.stats["connections"] += 1

            def do_GET(self):
                path, _, query = self.path.partition("?")
                if path.startswith("/status/"):
                    return self._reply(*wit.status(path[len("/status/"):-len(".xml")]))
                if path == "/stats":
                    with wit.lock:
                        return self._reply(200, json.dumps(wit.stats).encode(), "application/json")
                if "describeprocess" in query.lower():
                    return self._reply(200, wit.description)
                return self._reply(200, wit.capabilities)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._reply(*wit.execute(body))

            def _reply(self, status, content, content_type="text/xml"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args):
                pass

        return Handler

    def serve(self) -> None:
        self.server.serve_forever()


def _inputs(body: bytes) -> dict:
    document = xmltodict.parse(body, process_namespaces=True, namespaces=_NAMESPACES)
    items = document["wps:Execute"]["wps:DataInputs"]["wps:Input"]
    items = items if isinstance(items, list) else [items]
    values = {}
    for item in items:
        data = item["wps:Data"]["wps:ComplexData"]
        values[item["ows:Identifier"]] = data["#text"] if isinstance(data, dict) else data
    return values


def area_km2(geometry: dict) -> float:
    """Area of a lon/lat Polygon or MultiPolygon on a sphere (rings by the shoelace formula on
    an equal-area cylindrical projection; holes subtract). Close enough to set a job's time."""
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    total = 0.0
    for rings in polygons:
        for number, ring in enumerate(rings):
            points = [(math.radians(lon) * EARTH_RADIUS_KM, math.sin(math.radians(lat)) * EARTH_RADIUS_KM)
                      for lon, lat in ring]
            twice = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]))
            total += abs(twice) / 2 * (1 if number == 0 else -1)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--job-seconds", type=float, default=1.0)
    parser.add_argument("--seconds-per-km2", type=float, default=None,
                        help="a job's time per km² of its polygon, within %g-%g s (instead of --job-seconds)"
                        % AREA_SECONDS)
    args = parser.parse_args()
    wit = FastWit(args.port, args.job_seconds, args.seconds_per_km2)
    print(wit.base_url, flush=True)
    wit.serve()


if __name__ == "__main__":
    main()
