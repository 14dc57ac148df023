"""The WIT process as DEA's server reads its inputs, with test-controlled behaviour.

Inputs are read exactly as datacube-wps does: the geometry with one ``readline()``,
exactly one feature, start/end as TerriaJS date-time objects. What each job does
(how long it takes, whether it fails or hangs) comes from ``behaviour.json`` in the
server's folder, read at every job so a test can change it while the server runs.
Every job appends a line to ``received.jsonl`` so tests can check what was sent.
With ``s3_endpoint`` in the behaviour, each job writes a real WIT parquet (one sample
polygon's series, chosen from the geometry) to that S3 server and returns its s3:// URI.
"""

import hashlib
import json
import os
import time
from datetime import datetime
from pathlib import Path

from pywps import ComplexInput, Format, LiteralOutput, Process
from pywps.app.exceptions import ProcessError

from . import s3

GEOJSON = Format("application/vnd.geo+json")
STATE_DIR = Path(os.environ.get("WIT_SERVER_DIR", "."))


def current_behaviour() -> dict:
    try:
        return json.loads((STATE_DIR / "behaviour.json").read_text())
    except FileNotFoundError:
        return {}


def _first_vertex(geometry: dict) -> tuple:
    coords = geometry["coordinates"]
    while isinstance(coords[0], list):
        coords = coords[0]
    return tuple(coords[:2])


def _inside(point: tuple, boxes: list) -> bool:
    x, y = point
    return any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes)


def _date(data: str) -> datetime:
    return datetime.fromisoformat(json.loads(data)["properties"]["timestamp"]["date-time"])


def _record(entry: dict) -> None:
    line = json.dumps(entry, separators=(",", ":")) + "\n"
    with open(STATE_DIR / "received.jsonl", "a") as log:
        log.write(line)


class WitProcess(Process):
    def __init__(self):
        super().__init__(
            self._handler,
            identifier="WIT",
            title="Wetlands Insight Tool (test double)",
            abstract="Reads inputs exactly as DEA's WIT process does; results are fake S3 URIs.",
            inputs=[
                ComplexInput("geometry", "Geometry", supported_formats=[GEOJSON]),
                ComplexInput("start", "Start Date", supported_formats=[GEOJSON]),
                ComplexInput("end", "End date", supported_formats=[GEOJSON]),
            ],
            outputs=[LiteralOutput("url", "WIT result location", data_type="string")],
            store_supported=True,
            status_supported=True,
        )

    def launch_next_process(self):
        """Not from here: PyWPS starts a queued job from the job that just ended, forking again inside
        that job process. Under load such a job was seen to stay Accepted for ever, and a job queued
        just after the last one ended is never started; either way the queue then refuses every
        request. The server's worker starts queued jobs instead, on each request (app.start_queued)."""

    def _handler(self, request, response):
        line = request.inputs["geometry"][0].stream.readline()
        collection = json.loads(line)
        features = collection["features"]
        if len(features) != 1:
            raise ProcessError("expected exactly one feature, got %d" % len(features))
        geometry = features[0]["geometry"]
        start = _date(request.inputs["start"][0].data)
        end = _date(request.inputs["end"][0].data)
        behaviour = current_behaviour()
        url = "s3://%s/wit/%s/%s.snappy.parquet" % (behaviour.get("s3_bucket", "test-bucket"), self.uuid, self.uuid)
        _record({"uuid": str(self.uuid), "geometry": geometry, "collection": line.strip(), "start": start.isoformat(),
                 "end": end.isoformat(), "url": url, "pid": os.getpid()})
        vertex = _first_vertex(geometry)
        if _inside(vertex, behaviour.get("hang_boxes", [])):
            time.sleep(3600)
        response.update_status("WIT running", 0)
        time.sleep(float(behaviour.get("job_seconds", 0)))
        if _inside(vertex, behaviour.get("fail_boxes", [])):
            raise ProcessError("no data for this polygon")
        if any(_inside(vertex, [box[:4]]) and box[4] == start.isoformat() for box in behaviour.get("fail_starts", [])):
            raise ProcessError("no data for this period")
        if behaviour.get("s3_endpoint"):
            _write_result(behaviour, line.strip(), url, dry=_inside(vertex, behaviour.get("dry_boxes", [])))
        response.outputs["url"].data = url
        return response


def _write_result(behaviour: dict, collection: str, url: str, dry: bool) -> None:
    """The sample series of one polygon, picked by a hash of the geometry so reruns agree."""
    uids = s3.sample_uids()
    uid = uids[int(hashlib.sha256(collection.encode()).hexdigest(), 16) % len(uids)]
    body = s3.wit_parquet(uid, behaviour.get("time_encoding", "int96"), dry=dry)
    bucket, key = url[len("s3://"):].split("/", 1)
    s3.put(behaviour["s3_endpoint"], bucket, key, body)
    with open(STATE_DIR / "results.jsonl", "a") as log:
        log.write(json.dumps({"url": url, "sample_uid": uid, "dry": dry}) + "\n")
