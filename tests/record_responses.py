"""Record real PyWPS replies into tests/recorded/ for the parser unit tests.

Run with the project's venv: ``.venv/bin/python tests/record_responses.py``.
"""

import re
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parent))
from wit_server import launch  # noqa: E402

HERE = Path(__file__).parent / "recorded"
HEADERS = {"Content-Type": "text/xml", "Accept": "text/xml"}
POLYGON = ('{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon",'
           '"coordinates":[[[149.1,-35.3],[149.2,-35.3],[149.2,-35.2],[149.1,-35.3]]]},"properties":{}}]}')
DATE = ('{"type":"object","properties":{"timestamp":{"type":"string","format":"date-time",'
        '"date-time":"%s"}}}')


def execute(geometry: str = POLYGON, mime: str = "", inputs=("geometry", "start", "end")) -> bytes:
    values = {"geometry": geometry, "start": DATE % "2010-01-01T00:00", "end": DATE % "2011-01-01T00:00"}
    attr = ' mimeType="%s"' % mime if mime else ""
    parts = "".join(
        "<wps:Input><ows:Identifier>%s</ows:Identifier><wps:Data><wps:ComplexData%s>%s"
        "</wps:ComplexData></wps:Data></wps:Input>" % (name, attr, values[name]) for name in inputs)
    return ('<?xml version="1.0" encoding="UTF-8"?><wps:Execute xmlns:wps="http://www.opengis.net/wps/1.0.0" '
            'xmlns:ows="http://www.opengis.net/ows/1.1" service="WPS" version="1.0.0">'
            "<ows:Identifier>WIT</ows:Identifier><wps:DataInputs>%s</wps:DataInputs><wps:ResponseForm>"
            '<wps:ResponseDocument storeExecuteResponse="true" status="true"/></wps:ResponseForm>'
            "</wps:Execute>" % parts).encode()


def save(name: str, reply: requests.Response) -> None:
    (HERE / name).write_bytes(reply.content)
    print("%-32s HTTP %d, %d bytes" % (name, reply.status_code, len(reply.content)))


def follow(location: str, until: str) -> requests.Response:
    for _ in range(200):
        reply = requests.get(location, headers=HEADERS)
        if until in reply.text:
            return reply
        time.sleep(0.05)
    raise RuntimeError("status never reached " + until)


def main() -> None:
    server = launch.start(Path(tempfile.mkdtemp()), job_seconds=1.0,
                          fail_boxes=[[0, 0, 1, 1]])
    base = server.base_url + "/wps"
    try:
        save("capabilities.xml", requests.get(base, params={"service": "WPS", "request": "GetCapabilities"}))
        save("describe_wit.xml", requests.get(base, params={
            "service": "WPS", "version": "1.0.0", "request": "DescribeProcess", "identifier": "WIT"}))
        save("describe_unknown.xml", requests.get(base, params={
            "service": "WPS", "version": "1.0.0", "request": "DescribeProcess", "identifier": "NOPE"}))
        accepted = requests.post(server.wps_url, data=execute(), headers=HEADERS)
        save("execute_accepted.xml", accepted)
        location = re.search(r'statusLocation="([^"]+)"', accepted.text).group(1)
        save("status_started.xml", follow(location, "ProcessStarted"))
        save("status_succeeded.xml", follow(location, "ProcessSucceeded"))
        failing = POLYGON.replace("149.1,-35.3", "0.5,0.5")
        reply = requests.post(server.wps_url, data=execute(failing), headers=HEADERS)
        location = re.search(r'statusLocation="([^"]+)"', reply.text).group(1)
        save("status_failed.xml", follow(location, "ProcessFailed"))
        save("exception_invalid_mimetype.xml",
             requests.post(server.wps_url, data=execute(mime="application/json"), headers=HEADERS))
        save("exception_missing_input.xml",
             requests.post(server.wps_url, data=execute(inputs=("geometry", "start")), headers=HEADERS))
        huge = POLYGON.replace("[149.1,-35.3],", "[149.1,-35.3]," * 300000, 1)
        save("exception_file_size.xml", requests.post(server.wps_url, data=execute(huge), headers=HEADERS))
    finally:
        server.stop()
    busy = launch.start(Path(tempfile.mkdtemp()), parallel=1, queue=0, job_seconds=5)
    try:
        requests.post(busy.wps_url, data=execute(), headers=HEADERS)
        save("exception_server_busy.xml", requests.post(busy.wps_url, data=execute(), headers=HEADERS))
    finally:
        busy.stop()


if __name__ == "__main__":
    main()
