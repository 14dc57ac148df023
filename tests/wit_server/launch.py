"""Start and stop the WIT test server as a gunicorn subprocess on 127.0.0.1."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

_CONFIG = """\
[server]
url = {url}/wps
outputurl = {status_url}/outputs/
outputpath = {dir}/outputs
workdir = {dir}/work
parallelprocesses = {parallel}
maxprocesses = {queue}
maxrequestsize = 3mb
maxsingleinputsize = 3mb
[processing]
mode = default
[logging]
level = WARNING
file = {dir}/pywps.log
database = sqlite:///{dir}/pywps.sqlite
"""


PORT_TRIES = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class WitServer:
    """A running server: its Execute URL, its folder, and what it received."""

    directory: Path
    port: int
    process: subprocess.Popen = field(repr=False)

    @property
    def base_url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    @property
    def wps_url(self) -> str:
        return self.base_url + "/wps?service=WPS&request=Execute"

    def set_behaviour(self, **behaviour) -> None:
        """job_seconds, fail_boxes and hang_boxes (lists of lon/lat boxes), fail_starts (boxes with a
        fifth item, the start of the one job interval that fails there, ISO); s3_endpoint, s3_bucket,
        time_encoding ('int96' or 'int64') and dry_boxes to write real WIT parquet to an S3 server."""
        write_behaviour(self.directory, behaviour)

    def requests_seen(self) -> list:
        """Every HTTP request: host, method, path and its credential-carrying headers (for auth tests)."""
        log = self.directory / "requests.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines() if line] if log.exists() else []

    def received(self) -> list:
        log = self.directory / "received.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line]

    def results(self) -> dict:
        """With ``s3_endpoint`` set: result URI → {sample_uid, dry} of the parquet each job wrote."""
        log = self.directory / "results.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        return {entry["url"]: entry for entry in map(json.loads, filter(None, lines))}

    def stop(self) -> None:
        """Kill gunicorn and every job process it forked (they share its process group)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def write_behaviour(directory: Path, behaviour: dict) -> None:
    path = directory / "behaviour.json"
    path.with_suffix(".tmp").write_text(json.dumps(behaviour))
    path.with_suffix(".tmp").replace(path)


def start(directory: Path, parallel: int = 64, queue: int = 1000, workers: int = 4,
          status_host: str = "127.0.0.1", credential_headers: tuple = (), **behaviour) -> WitServer:
    """Start the server in ``directory`` and return once it answers GetCapabilities.

    With another ``status_host`` (e.g. 127.0.0.2), status documents are served from that
    address, as DEA serves them from an S3 bucket on another host than the WPS. Requests are
    logged with their Authorization, X-Esri-Authorization and ``credential_headers`` headers.
    """
    directory = Path(directory).resolve()
    for sub in ("outputs", "work"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    write_behaviour(directory, behaviour)  # before the workers start: they warm up for what it asks
    for _ in range(PORT_TRIES):
        server = _start_on(free_port(), directory, parallel, queue, workers, status_host, credential_headers)
        if wait_until_answering(server.process, server.base_url + "/wps?service=WPS&request=GetCapabilities",
                                directory / "gunicorn.log", "WIT test server", server.stop):
            return server
    raise RuntimeError("WIT test server found no free port in %d tries: see %s"
                       % (PORT_TRIES, directory / "gunicorn.log"))


def _start_on(port: int, directory: Path, parallel: int, queue: int, workers: int, status_host: str,
              credential_headers: tuple) -> WitServer:
    url = "http://127.0.0.1:%d" % port
    (directory / "pywps.cfg").write_text(
        _CONFIG.format(url=url, status_url="http://%s:%d" % (status_host, port), dir=directory,
                       parallel=parallel, queue=queue))
    env = dict(os.environ, WIT_SERVER_DIR=str(directory), PYTHONPATH=str(Path(__file__).parents[1]),
               WIT_CREDENTIAL_HEADERS=",".join(credential_headers))
    with open(directory / "gunicorn.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", "127.0.0.1:%d" % port,
             *(["--bind", "%s:%d" % (status_host, port)] if status_host != "127.0.0.1" else []),
             "--log-level", "warning", "--timeout", "120", "--preload", "wit_server.app:application"],
            env=env, cwd=directory, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return WitServer(directory, port, process)


def wait_until_answering(process: subprocess.Popen, url: str, log: Path, name: str, stop) -> bool:
    """True once ``url`` answers 200 from ``process`` itself; False when the server could not bind its
    port (another process took it after free_port() let it go: parallel workers start servers all the
    time), so the caller tries another. Any other exit, or silence for 60 s (then ``stop()`` ends it),
    is an error. A 200 from whoever else holds the port does not count: it is someone else's server."""
    port = int(url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    logged = log.stat().st_size if log.exists() else 0  # this try's lines only
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = log.read_bytes()[logged:].decode(errors="replace") if log.exists() else ""
            if "in use" in said:
                return False
            raise RuntimeError("%s exited: see %s" % (name, log))
        try:
            if requests.get(url, timeout=2).status_code == 200 and listens(process.pid, port):
                return True
        except requests.RequestException:  # not listening yet, or still booting its workers
            pass
        time.sleep(0.1)
    stop()
    raise RuntimeError("%s did not answer within 60 s: see %s" % (name, log))


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the socket listening on ``port`` (Linux's /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        with contextlib.suppress(OSError):
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            if link.startswith("socket:["):
                inodes.add(link[len("socket:["):-1])
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
                return True  # 0A: LISTEN
    return False


@contextlib.contextmanager
def refused_port():
    """A loopback port where nothing listens, held for the block: bound, never listening, so
    connections are refused and no other worker's server can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
