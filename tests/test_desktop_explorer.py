"""The WIT explorer in the real QGIS desktop under Xvfb (tests/desktop/explorer_driver.py)."""

from __future__ import annotations

import csv
import http.server
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ARTIFACTS, EXPECTED_READER
from desktop_session import run_driver
from qgis_helpers import DATA_TABLE
from test_history import valid_years
from test_load_results_algorithm import canberra_layer, read_table
from wit_server.s3 import sample_uids, wit_parquet

from tools.plugin_files import ROOT
from wit_provider.results.history import HISTORY_FIELDS, summary
from wit_provider.results.metrics import VALID_YEAR_OBS, inundation_events
from wit_provider.results.table import merge, read_series

SLOW_SECONDS = 3.0


class SlowHandler(http.server.BaseHTTPRequestHandler):
    """Serves one WIT result after SLOW_SECONDS: a fetch the map must not wait for."""

    body = b""

    def do_GET(self):
        time.sleep(SLOW_SECONDS)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def results_files(qgis_app, canberra_zip, folder):
    """Load WIT results' four outputs for Canberra polygons with local result files (one corrupt)."""
    import processing

    urls = []
    for uid in sample_uids()[:8]:
        path = folder / ("%s.parquet" % uid)
        path.write_bytes(wit_parquet(uid))
        urls.append(str(path))
    (folder / "corrupt.parquet").write_bytes(b"not parquet")
    urls.append(str(folder / "corrupt.parquet"))
    outputs = {name: str(folder / ("%s.gpkg" % name.lower())) for name in ("OUTPUT", "TIMESERIES", "ANNUAL", "EVENTS")}
    processing.run("wit:loadresults", {"INPUT": canberra_layer(canberra_zip, urls), "ID_FIELD": "UID", **outputs})
    return outputs


def slow_layer(canberra_zip, folder, slow_url: str) -> str:
    """Two polygons of a dispatch-like layer: one result behind the slow server, one in a file."""
    from qgis.core import QgsProject, QgsVectorFileWriter

    fast = folder / "fast.parquet"
    fast.write_bytes(wit_parquet("16"))
    layer = canberra_layer(canberra_zip, [slow_url, str(fast)])
    layer.startEditing()
    for feature, uid in zip(layer.getFeatures(), ("slow-one", "fast-one")):
        layer.changeAttributeValue(feature.id(), 0, uid)
    layer.commitChanges()
    path = str(folder / "slow.gpkg")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    error = QgsVectorFileWriter.writeAsVectorFormatV3(layer, path, QgsProject.instance().transformContext(), options)
    assert error[0] == QgsVectorFileWriter.WriterError.NoError, error
    return path


@pytest.mark.slow
def test_the_explorer_follows_the_selection(qgis_app, profile_from_zip, pyarrow_wheel, canberra_zip, tmp_path):
    config = profile_from_zip["QGIS_CUSTOM_CONFIG_PATH"]
    installed = subprocess.run(["/usr/bin/python3", "-m", "pip", "install", "-q", "--no-deps", "--target",
                                "%s/profiles/default/python" % config, str(pyarrow_wheel)],
                               capture_output=True, text=True)  # the command Load WIT results gives
    assert installed.returncode == 0, installed.stdout + installed.stderr
    data = tmp_path / "data"
    data.mkdir()
    outputs = results_files(qgis_app, canberra_zip, data)
    SlowHandler.body = wit_parquet("149")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        slow_path = slow_layer(canberra_zip, data, "http://127.0.0.1:%d/slow.parquet" % server.server_address[1])
        out = tmp_path / "desktop"
        report = run_driver("explorer_driver.py", profile_from_zip, out, "1600x1000x24",
                            WIT_RESULTS=outputs["OUTPUT"], WIT_TIMESERIES=outputs["TIMESERIES"],
                            WIT_ANNUAL=outputs["ANNUAL"], WIT_EVENTS=outputs["EVENTS"], WIT_SLOW=slow_path)
    finally:
        server.shutdown()
        server.server_close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for png in out.glob("explorer_*.png"):
        shutil.copy(png, ARTIFACTS / png.name)

    assert report["reader"] == EXPECTED_READER
    assert (report["actions_before_open"], report["docks_before_open"]) == (1, 0)
    assert report["docks_after_open"] == ["WIT explorer"]
    assert "Open in WIT explorer" in report["layer_actions"]
    observations = dict(_observations(outputs["TIMESERIES"]))
    one = report["one"]
    assert report["selected_by_action"] == [report["acted_on"]]  # the layer action selected its feature
    (plot,) = one["plots"]
    assert one["uid"] in plot["title"]
    assert plot["observations"] == observations[one["uid"]]  # the canvas passes through every observation
    assert plot["stack_x"] == pytest.approx(plot["first_last"])  # from the first to the last
    assert "Series from table 'WIT time series'." in one["message"]
    assert "Years and events: tables 'WIT annual metrics', 'WIT inundation events'." in one["message"]
    annual = [row for row in read_table(outputs["ANNUAL"], "id, year, obs") if row[0] == one["uid"]]
    events = [row for row in read_table(outputs["EVENTS"], "id, event") if row[0] == one["uid"]]
    assert one["annual_rows"] == one["annual_bars"] == len(annual) > 30  # from the loaded ANNUAL
    assert one["events"] == one["events_rows"] == len(events) > 0
    assert one["faint_bars"] == sum(1 for row in annual if row[2] < VALID_YEAR_OBS) > 0  # 2012: too few
    past = {row[0]: dict(zip(HISTORY_FIELDS, row[1:])) for row in read_table(
        outputs["OUTPUT"], "UID, " + ", ".join(HISTORY_FIELDS))}
    assert one["standing_visible"] and one["standing"] == "<b>%s</b>: %s" % (one["uid"], summary(past[one["uid"]]))
    assert "regime " in one["standing"] and "pp/decade" in one["standing"]
    (sen,) = one["sen_lines"]  # Sen's line over the valid years, from the definition
    files = dict(read_table(outputs["OUTPUT"], "UID, wit_url"))  # each polygon's file: <sample uid>.parquet
    record = valid_years(sample_frame(Path(files[one["uid"]]).stem), 0.01)
    slope = past[one["uid"]]["wit_trend_slope"] / 1000
    intercept = float(np.median(record.wetw_max)) - slope * float(np.median(record.index))
    assert sen[0] == [record.index[0], record.index[-1]]
    assert sen[1] == pytest.approx([100 * (intercept + slope * year) for year in sen[0]], abs=1e-9)
    assert sen[2] == {"wetter": "#2166ac", "drier": "#d6301d", "no trend": "#9e9e9e"}[past[one["uid"]]["wit_trend"]]
    hover = report["hover"]
    assert hover["visible"] and hover["text"].startswith("%s %s UTC" % (one["uid"], hover["expected_time"]))
    assert all(label in report["hover"]["text"] for label in ("open water", "wet", "green vegetation",
                                                              "dry vegetation", "bare soil"))
    with open(out / "explorer_series.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == observations[one["uid"]] and list(rows[0]) == ["id", "time", "water", "wet", "pv", "npv",
                                                                        "bs"]
    assert (out / "explorer_plot.png").stat().st_size > 20_000

    three = report["three"]
    assert [p["title"] for p in three["plots"]] == ["Wetlands Insight Tool: %s" % uid for uid in three["uids"]]
    assert three["events_rows"] == len([row for row in read_table(outputs["EVENTS"], "id")
                                        if row[0] in three["uids"]]) > 0  # every EVENTS row of the three
    assert three["standing"].count("<br>") == 2  # one line per wetland
    # One Sen's line each, in its bars' colour, through its own bars (a third of a year apart).
    assert [colour for colour, _ in three["sen_lines"]] == ["#04d9ff", "#030aa7", "#3f9b0b"]
    starts = [xs[0] - round(xs[0]) for _, xs in three["sen_lines"]]
    assert starts == pytest.approx([-0.8 / 3, 0.0, 0.8 / 3])
    assert all(" pp/decade, p " in line and "Sen's" not in line for line in three["standing"].split("<br>"))
    assert len(report["six"]["titles"]) == 4
    assert report["six"]["message"].startswith("6 wetlands selected: showing the first 4.")

    failed = report["failed"]
    assert failed["plots"] == 0
    assert failed["message"].startswith("%s: failed (wit_load_status): not a readable parquet file" % failed["uid"])

    slow = report["slow"]
    assert slow["ticks_in_first_500_ms"] >= 3  # the main thread kept turning while the slow read ran
    assert slow["ticks"] >= 40  # and through the whole 3 s read and after
    assert slow["titles"] == ["Wetlands Insight Tool: fast-one"]  # the newer selection won, and stayed
    assert "Years and events: computed from the series." in slow["message"]
    series = merge([read_series(wit_parquet("16"), "pyarrow")])  # its file: not in the loaded tables
    frame = sample_frame("16")
    years = frame.time.dt.year
    by_year = (frame.water + frame.wet).groupby(years).max()
    assert slow["annual"] == [[year, pytest.approx(peak, rel=1e-12), bool((years == year).sum() >= 4)]
                              for year, peak in by_year.items()]  # computed from it
    assert slow["standing"].startswith("<b>fast-one</b>: regime ")
    assert slow["events"] == [[str(e[1]), str(e[2]), str(e[3]), str(e[7])]
                              for e in inundation_events(series, 0.01, slow_area_ha(slow_path))]

    assert report["still_connected"] == []
    assert report["after_unload"] == {"actions": 0, "docks": 0}
    for number in (1, 2):
        assert report["reload_%d" % number] == {"actions": 1, "docks": 0, "docks_after_open": 1}


def sample_frame(uid: str):
    """The sample's rows of ``uid``, in time order, times in UTC."""
    from conftest import WIT_SAMPLE
    from test_wit_metrics import merged

    frame = pd.read_parquet(WIT_SAMPLE)
    return merged(frame[frame.XXX_UID == uid])


def slow_area_ha(path) -> float:
    """The file-backed polygon's area on GRS80 (its CRS's ellipsoid), as the explorer measures it."""
    from qgis.core import QgsDistanceArea, QgsProject, QgsUnitTypes, QgsVectorLayer

    layer = QgsVectorLayer(path, "slow", "ogr")
    feature = sorted(layer.getFeatures(), key=lambda f: f.id())[1]
    measure = QgsDistanceArea()
    measure.setSourceCrs(layer.crs(), QgsProject.instance().transformContext())
    measure.setEllipsoid("GRS80")
    return measure.convertAreaMeasurement(measure.measureArea(feature.geometry()), QgsUnitTypes.AreaHectares)


def _observations(path) -> list:
    import sqlite3

    with sqlite3.connect(path) as db:
        table = db.execute(DATA_TABLE).fetchone()[0]
        return db.execute('SELECT id, count(*) FROM "%s" GROUP BY id' % table).fetchall()


def test_qgis_process_creates_nothing_of_the_explorer(canberra_zip, tmp_path):
    """Headless, the plugin started as qgis_process starts it (initProcessing, never initGui) and an
    algorithm run: no module of the GUI part is imported."""
    script = (
        "import sys; sys.path[:0] = %r\n"
        "import conftest\n"
        "from tools.qgis import processing_session\n"
        "app, plugin = processing_session()\n"
        "import processing\n"
        "processing.run('wit:loadresults', {'INPUT': %r, 'URL_FIELD': 'UID', 'OUTPUT': %r})\n"
        "print(sorted(m for m in sys.modules if m.startswith('wit_dispatcher.gui')))\n"
        % ([str(ROOT / "tests"), str(ROOT)], str(canberra_zip), str(tmp_path / "out.gpkg")))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         cwd=str(ROOT))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"
