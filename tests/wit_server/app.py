"""WSGI application: PyWPS at ``/wps`` and the stored status documents at ``/outputs/``.

Run it with gunicorn's sync workers (single-threaded, as DEA does): PyWPS forks a
process per job, and forking from a threaded server can deadlock jobs.
PyWPS's job processes must be forked: from Python 3.14 the default start method on Linux is
forkserver, which pickles the process and fails on PyWPS's input handlers.
"""

import json
import multiprocessing
import os
from pathlib import Path

from pywps import Process, Service, configuration, dblog

from . import s3
from .process import STATE_DIR, WitProcess, current_behaviour

multiprocessing.set_start_method("fork", force=True)
if current_behaviour().get("s3_endpoint"):  # results go to S3: each job's costly part done once, before jobs fork
    s3.warm(current_behaviour()["s3_endpoint"])
_service = Service([WitProcess()], [str(STATE_DIR / "pywps.cfg")])
_outputs = Path(os.environ.get("WIT_SERVER_OUTPUTS", STATE_DIR / "outputs")).resolve()


def _static(environ, start_response):
    name = environ["PATH_INFO"][len("/outputs/"):]
    path = (_outputs / name).resolve()
    if _outputs not in path.parents or not path.is_file():
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    body = path.read_bytes()
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


# Headers that carry credentials, logged so tests can see which host received them.
_CREDENTIAL_HEADERS = ["Authorization", "X-Esri-Authorization"] + [
    name for name in os.environ.get("WIT_CREDENTIAL_HEADERS", "").split(",") if name]


def _credentials(environ) -> dict:
    """The request's credential-carrying headers present, by name."""
    present = {name: environ.get("HTTP_" + name.upper().replace("-", "_")) for name in _CREDENTIAL_HEADERS}
    return {name: value for name, value in present.items() if value is not None}


def _log(environ) -> None:
    entry = {"host": environ.get("HTTP_HOST", ""), "method": environ.get("REQUEST_METHOD", ""),
             "path": environ.get("PATH_INFO", ""), "credentials": _credentials(environ)}
    with open(STATE_DIR / "requests.jsonl", "a") as log:
        log.write(json.dumps(entry) + "\n")


def start_queued() -> None:
    """A job PyWPS queued (parallelprocesses reached), started once a place is free: the single-threaded
    worker forks it, as it forks every job it accepts (WitProcess.launch_next_process says why)."""
    parallel = int(configuration.get_config_value("server", "parallelprocesses"))
    running, stored = dblog.get_process_counts()
    if stored and (parallel == -1 or running < parallel):
        Process.launch_next_process(_service.prepare_process_for_execution("WIT"))


def application(environ, start_response):
    _log(environ)
    start_queued()
    if environ.get("PATH_INFO", "").startswith("/outputs/"):
        return _static(environ, start_response)
    return _service(environ, start_response)
