"""Shared pieces: the benchmark server as a subprocess, sample polygons, Execute documents."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

import conftest  # noqa: E402,F401  (makes the plugin importable as wit_dispatcher)

START, END = datetime(2010, 1, 1), datetime(2020, 1, 1)
CACHE = ROOT / "build" / "bench"


@dataclass
class Server:
    process: subprocess.Popen
    base_url: str

    @property
    def wps_url(self) -> str:
        return self.base_url + "/wps?service=WPS&request=Execute"

    def stats(self) -> dict:
        return requests.get(self.base_url + "/stats", timeout=10).json()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def start_server(job_seconds: float) -> Server:
    """The light WIT server (tests/wit_server/fast.py) in its own process, so its CPU is not ours."""
    process = subprocess.Popen([sys.executable, "-m", "wit_server.fast", "--job-seconds", str(job_seconds)],
                               cwd=ROOT / "tests", stdout=subprocess.PIPE, text=True)
    base_url = process.stdout.readline().strip()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(base_url + "/stats", timeout=1)
            return Server(process, base_url)
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("benchmark server did not start")


def canberra_collections() -> list[str]:
    """The 86 Canberra polygons as the one-line lon/lat FeatureCollections WIT receives."""
    import fiona
    from fiona.model import to_dict
    from fiona.transform import transform_geom

    path = "zip://%s!waterbodies_canberra.shp" % conftest.CANBERRA_ZIP
    with fiona.open(path) as layer:
        return [json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": to_dict(transform_geom(layer.crs, "EPSG:4326", f.geometry)),
             "properties": {}}]}, separators=(",", ":")) for f in layer]
