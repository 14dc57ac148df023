"""The real QGIS desktop under Xvfb: dispatch → load results, styled layers, the plot from a layer action,
ANNUAL in the Temporal Controller and the results polygons related to their years and events."""

import re
import shutil
import subprocess

import pytest
from conftest import ARTIFACTS, EXPECTED_READER
from desktop_session import run_driver
from pdf_pages import page_texts, pdf_pages


@pytest.mark.slow
@pytest.mark.timeout(600)  # dispatch, load, the Temporal Controller and two 87-page reports in one desktop
def test_results_open_styled_and_show_their_plot(profile_from_zip, s3_server, fresh_server, pyarrow_wheel,
                                                 canberra_zip, tmp_path):
    config = profile_from_zip["QGIS_CUSTOM_CONFIG_PATH"]
    installed = subprocess.run(["/usr/bin/python3", "-m", "pip", "install", "-q", "--no-deps", "--target",
                                "%s/profiles/default/python" % config, str(pyarrow_wheel)],
                               capture_output=True, text=True)  # the command the plugin's message gives
    assert installed.returncode == 0, installed.stdout + installed.stderr
    server = fresh_server(job_seconds=0.05, s3_endpoint=s3_server.endpoint, s3_bucket="desktop-results")
    out = tmp_path / "desktop"
    report = run_driver("results_driver.py", profile_from_zip, out, "1600x1000x24", WIT_WPS_URL=server.wps_url,
                        WIT_S3_ENDPOINT=s3_server.endpoint, WIT_LAYER=str(canberra_zip),
                        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for png in out.glob("*.png"):
        shutil.copy(png, ARTIFACTS / png.name)
    assert report["reader"] == EXPECTED_READER
    assert report["dispatch_renderer"] == {"type": "categorizedSymbol", "attribute": "wit_status"}
    assert report["results_renderer"] == {"type": "graduatedSymbol", "attribute": "wit_wet_pct"}
    assert "wit_plot" in report["map_tip"] and "wit_trend" in report["map_tip"]
    assert report["styles"] == ["Regime", "Trend", "Wet share", "Year by year"]
    assert report["current_style"] == "Wet share"
    assert report["trend_renderer"] == {"type": "categorizedSymbol", "attribute": "wit_trend"}
    assert "no trend" in report["trends"] and set(report["trends"]) <= {"wetter", "drier", "no trend", "NULL"}
    assert report["regime_renderer"] == {"type": "categorizedSymbol", "attribute": "wit_regime"}
    assert (out / "results_trend.png").stat().st_size > 30_000 and (out / "results_regime.png").stat().st_size > 30_000
    assert {"Show WIT plot", "Open in WIT explorer"} <= set(report["actions"])
    assert report["windows"] == 1 and report["feature_plot"] in report["window_title"]
    assert (out / "results_plot_window.png").stat().st_size > 30_000  # the plot, not an empty window

    from qgis.core import Qgis

    assert report["annual_renderer"] == {"type": "graduatedSymbol", "attribute": "wetw_max"}
    assert report["annual_temporal"] == {
        "active": True, "mode": int(Qgis.VectorTemporalMode.FeatureDateTimeStartAndEndFromExpressions),
        "start": 'to_datetime("start")', "end": 'to_datetime("end")',
        "limit": int(Qgis.VectorTemporalLimitMode.IncludeBeginExcludeEnd)}
    assert report["frame"][0].startswith("2011-01-01T00:00:00") and report["frame"][1].startswith("2012-01-01")
    assert report["frame_years"] == [2011]  # the frame shows that year's rows and no other
    assert report["frame_features"] == report["year_rows"] > 50
    assert report["events_spatial"] is False  # EVENTS opens as a table
    relations = report["relations"]
    assert sorted(relations) == ["WIT annual metrics", "WIT inundation events"]
    assert relations["WIT inundation events"]["pairs"] == {"id": "wit_id"}
    assert relations["WIT inundation events"]["related"] == {
        uid: events or 0 for uid, events in report["wit_events"].items()}  # a polygon's form lists its events
    assert sum(relations["WIT inundation events"]["related"].values()) > 500
    assert (out / "annual_temporal.png").stat().st_size > 30_000
    # Create WIT report from its dialog: the project's ANNUAL and EVENTS found, the plugin's template and
    # an edited copy of it.
    for name in ("report_plugin.pdf", "report_edited.pdf"):
        assert pdf_pages(out / name) == 87, report.get("report_messages")
        texts = page_texts(out / name)
        # ANNUAL's and EVENTS' rows, from the project's layers: a year with its observations, an event's dates
        assert sum(bool(re.search(r"^\s*20\d\d\s+\d+\s+(yes|no)\b", text, re.M)) for text in texts[1:]) > 80
        assert sum(bool(re.search(r"\d{4}-\d\d-\d\d\s+\d{4}-\d\d-\d\d\s+\d+\s", text)) for text in texts[1:]) > 50
        edited = name == "report_edited.pdf"
        assert all(("Prepared for the basin office" in text) == edited for text in texts[1:])
    assert (out / "report_dialog.png").stat().st_size > 10_000
