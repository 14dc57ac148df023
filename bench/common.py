"""Shared pieces: the benchmark server as a subprocess, sample polygons, Execute documents."""

from __future__ import annotations

import json
import math
import random
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


def start_server(job_seconds: float, seconds_per_km2: float | None = None) -> Server:
    """The light WIT server (tests/wit_server/fast.py) in its own process, so its CPU is not ours."""
    timing = ["--seconds-per-km2", str(seconds_per_km2)] if seconds_per_km2 else []
    process = subprocess.Popen([sys.executable, "-m", "wit_server.fast", "--job-seconds", str(job_seconds)] + timing,
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


def mixed_collections(jobs: int = 200, seed: int = 11) -> list[str]:
    """Squares near Canberra, 1 to 60 km² (log-uniform, in random order): with the server's
    --seconds-per-km2 1, jobs of 1 to 60 s as WIT's grow with the area."""
    rng = random.Random(seed)
    collections = []
    for _ in range(jobs):
        side_km = math.sqrt(math.exp(rng.uniform(0, math.log(60))))
        lat, lon = -35.3, 149.1
        dlat = math.degrees(side_km / 6371.0088)
        dlon = dlat / math.cos(math.radians(lat))
        ring = [[lon, lat], [lon + dlon, lat], [lon + dlon, lat - dlat], [lon, lat - dlat], [lon, lat]]
        collections.append(json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": {}}]},
            separators=(",", ":")))
    return collections


def mixed_seconds(jobs: int = 200) -> list[float]:
    """How long the server takes for each of ``mixed_collections(jobs)`` at 1 s per km²."""
    from wit_server.fast import AREA_SECONDS, area_km2

    low, high = AREA_SECONDS
    return [min(high, max(low, area_km2(json.loads(c)["features"][0]["geometry"]))) for c in mixed_collections(jobs)]
