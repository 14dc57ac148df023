"""The real QGIS desktop under Xvfb, plugin installed from the packaged zip: dialogs, help, a batch run."""

import json
import os
import shutil
from datetime import datetime

import pytest
from conftest import ARTIFACTS
from desktop_session import run_driver
from test_metadata import repository_metadata
from test_parameters import ADVANCED
from test_qgis_process import read_gpkg

# Destination parameters: QGIS 3.22 draws them below the parameters, outside the group, whatever their flags.
DESTINATIONS = {"JOBS", "JOURNAL"}
ALGORITHM_PAGES = {algorithm_id: "%s/blob/main/docs/%s" % (repository_metadata()["homepage"].rstrip("/"), page)
                   for algorithm_id, page in (("wit:dispatchwit", "dispatching.md"), ("wit:loadresults", "results.md"))}


@pytest.mark.slow
def test_dialog_help_and_a_batch_of_two_layers(profile_from_zip, fresh_server, canberra_zip, tmp_path):
    server = fresh_server(job_seconds=0.2)
    lakes = tmp_path / "lakes.geojson"
    lakes.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"UID":"lake"},'
                     '"geometry":{"type":"Polygon","coordinates":[[[149,-35],[149.01,-35],[149.01,-35.01],'
                     '[149,-35]]]}}]}')
    out = tmp_path / "desktop"
    report = run_driver("driver.py", profile_from_zip, out, WIT_WPS_URL=server.wps_url,
                        WIT_LAYERS="%s|%s" % (canberra_zip, lakes))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for png in out.glob("*.png"):
        shutil.copy(png, ARTIFACTS / png.name)
        assert png.stat().st_size > 10_000  # a real picture, not an empty grab
    assert report["algorithm_found"] and report["provider_icon"]
    assert set(report["parameters"]) <= set(report["shown"])  # every parameter has its widget
    # The essentials first; the rest under Advanced parameters, collapsed when the dialog opens.
    for algorithm_id, advanced in ADVANCED.items():
        group = report["advanced"][algorithm_id]
        assert group and group["visible"] and group["collapsed"], (algorithm_id, report["advanced"])
        assert advanced - DESTINATIONS <= set(group["inside"]) <= advanced, (algorithm_id, group)
    assert report["help_urls"] == [ALGORITHM_PAGES["wit:dispatchwit"], ALGORITHM_PAGES["wit:loadresults"]]
    for label in ("Input layer", "WPS URL", "Process", "Start / End", "Jobs in flight", "Timeout",
                  "Maximum perimeter", "Resubmit failed jobs", "Job journal", "wit_url", "wit_status", "wit_error"):
        assert label in report["help"]
    canberra, lake = (read_gpkg(path) for path in report["outputs"])
    assert len(canberra) == 86 and {r[2] for r in canberra} == {"succeeded"}
    assert len(lake) == 1 and lake[0][2] == "succeeded"
    years = datetime.now().year - 1987 + 1  # yearly increments from the default START to now
    assert len(json.loads(lake[0][1])) == years and len(set(json.loads(lake[0][1]))) == years
    assert canberra[0][1].startswith("s3://")  # the row without increments keeps one URI
    # QGIS 3.22's batch dialog runs the rows before its Run returns, from 3.24 each row runs as a task.
    assert report["done_when_run_returned"] == (report["qgis_version"] < 32400)
    # The event loop kept turning while the batch ran (a 100 ms timer ticked).
    assert report["ticks"] >= 2 * report["batch_seconds"]
    assert os.path.exists(out / "dispatch_wit_dialog.png")  # this run's, not one an earlier run kept
    assert os.path.exists(out / "load_results_dialog.png")
