"""wit:report through processing.run on Load WIT results' real outputs: pages, words, pictures, bad input."""

import re
import subprocess

import numpy as np
import pytest
from conftest import CANBERRA_ZIP, DATA
from pdf_pages import page_texts, pdf_pages
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsVectorLayer
from test_load_results_algorithm import canberra_layer, read_table
from wit_server.s3 import sample_uids, wit_parquet

REFERENCE_PAGE = DATA / "report_page2.png"  # page 2 of the report below, rendered by pdftoppm at 40 dpi
POLYGONS = 6


@pytest.fixture(scope="module")
def loaded(qgis_app, tmp_path_factory):
    """Load WIT results on six Canberra polygons from local files, the fifth one missing: its outputs."""
    import processing

    folder = tmp_path_factory.mktemp("report-input")
    paths = []
    for index, uid in enumerate(sample_uids()[:POLYGONS]):
        path = folder / ("%s.parquet" % uid)
        if index != 4:
            path.write_bytes(wit_parquet(uid))
        paths.append(str(path))
    outputs = {name: str(folder / ("%s.gpkg" % name.lower())) for name in ("OUTPUT", "ANNUAL", "EVENTS",
                                                                           "TIMESERIES")}
    processing.run("wit:loadresults", {"INPUT": canberra_layer(CANBERRA_ZIP, paths), "ID_FIELD": "UID",
                                       "PLOTS": str(folder / "plots"), **outputs})
    return outputs


def report(loaded, path, **extra):
    import processing

    parameters = {"INPUT": loaded["OUTPUT"], "ANNUAL": loaded["ANNUAL"], "EVENTS": loaded["EVENTS"],
                  "TIMESERIES": loaded["TIMESERIES"], "OUTPUT": str(path)}
    parameters.update(extra)
    return processing.run("wit:report", parameters, feedback=extra.pop("feedback", None) or QgsProcessingFeedback())


def statistics_rows(loaded) -> list[dict]:
    names = ["wit_id", "wit_load_status", "wit_load_error", "wit_obs", "wit_wet_pct", "wit_latest_rank_pct"]
    return [dict(zip(names, row)) for row in read_table(loaded["OUTPUT"], ", ".join(names))]


def test_a_summary_page_then_one_page_per_wetland_each_with_its_own_numbers(loaded, tmp_path):
    result = report(loaded, tmp_path / "report.pdf")
    assert result["PAGES"] == POLYGONS + 1 == pdf_pages(tmp_path / "report.pdf")
    texts = page_texts(tmp_path / "report.pdf")
    rows = sorted(statistics_rows(loaded), key=lambda row: row["wit_id"])  # the sample's ids: no digits to sort
    assert "%d wetlands" % POLYGONS in texts[0]
    assert re.search(r"loaded\s+%d" % (POLYGONS - 1), texts[0]) and re.search(r"failed\s+1", texts[0])
    for row, text in zip(rows, texts[1:]):
        assert text.lstrip().startswith(row["wit_id"])  # the title
        if row["wit_load_status"] == "loaded":
            assert "Observations: %d," % row["wit_obs"] in text
            assert "Wet observations: %.1f %%" % row["wit_wet_pct"] in text
            assert "No plot" not in text and "The last ten years" in text
        else:  # a page of its own, saying why
            assert "Result: failed: %s" % row["wit_load_error"].split("/")[0] in text  # "no file", then its path
            assert "No plot: " in text


def test_pages_in_the_order_asked_for(loaded, tmp_path):
    report(loaded, tmp_path / "ranked.pdf", ORDER=1)
    rows = [row for row in statistics_rows(loaded) if row["wit_latest_rank_pct"] is not None]
    highest = min(rows, key=lambda row: (-row["wit_latest_rank_pct"], row["wit_id"]))
    assert page_texts(tmp_path / "ranked.pdf")[1].lstrip().startswith(highest["wit_id"])


def grey(path_png) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path_png).convert("L"), dtype=np.float64)


def test_a_page_looks_as_it_did(loaded, tmp_path):
    report(loaded, tmp_path / "report.pdf")
    subprocess.run(["pdftoppm", "-r", "40", "-f", "2", "-l", "2", "-png", "-singlefile", str(tmp_path / "report.pdf"),
                    str(tmp_path / "page2")], check=True)
    ours, reference = grey(tmp_path / "page2.png"), grey(REFERENCE_PAGE)
    assert ours.shape == reference.shape
    difference = np.abs(ours - reference)
    # Fonts and antialiasing differ a little between QGIS and matplotlib versions; a missing map, plot or
    # table differs by far more (each is over 5 % of the page).
    assert difference.mean() < 4 and (difference > 96).mean() < 0.02, (difference.mean(), (difference > 96).mean())


def test_an_edited_copy_of_the_template_is_used(loaded, tmp_path):
    from wit_dispatcher.algorithms.report_layout import TEMPLATE

    text = TEMPLATE.read_text(encoding="utf-8")
    edited = re.sub(r'(<LayoutItem [^>]*id="wit_footer"[^>]*labelText=")[^"]*', r"\1Prepared for the basin office",
                    text)
    assert edited != text
    (tmp_path / "mine.qpt").write_text(edited, encoding="utf-8")
    report(loaded, tmp_path / "report.pdf", LAYOUT=str(tmp_path / "mine.qpt"))
    assert all("Prepared for the basin office" in page for page in page_texts(tmp_path / "report.pdf")[1:])


@pytest.mark.parametrize("content, problem", [
    ("not xml at all", "is not a QGIS layout template"),
    ("<Layout name='x'><PageCollection/></Layout>", "has no atlas"),
])
def test_a_template_that_cannot_make_a_report_is_refused_before_any_page(loaded, tmp_path, content, problem):
    (tmp_path / "bad.qpt").write_text(content)
    with pytest.raises(QgsProcessingException, match="LAYOUT '.*bad.qpt' %s" % problem):
        report(loaded, tmp_path / "report.pdf", LAYOUT=str(tmp_path / "bad.qpt"))
    assert not (tmp_path / "report.pdf").exists()


def test_a_layer_that_is_not_load_wit_results_output_is_refused_by_name(qgis_app, canberra_zip, tmp_path):
    import processing

    layer = QgsVectorLayer(str(canberra_zip), "canberra", "ogr")
    with pytest.raises(QgsProcessingException, match="Input layer 'canberra' is not Load WIT results' statistics "
                                                     "layer: it has no wit_events"):
        processing.run("wit:report", {"INPUT": layer, "OUTPUT": str(tmp_path / "report.pdf")})
    assert not (tmp_path / "report.pdf").exists()


def test_a_table_of_the_wrong_kind_is_refused_by_name(loaded, tmp_path):
    with pytest.raises(QgsProcessingException, match="EVENTS layer '.*' is not Load WIT results' EVENTS output"):
        report(loaded, tmp_path / "report.pdf", EVENTS=loaded["ANNUAL"])


def test_an_unwritable_pdf_path_is_refused_before_any_page(loaded, tmp_path):
    with pytest.raises(QgsProcessingException, match="OUTPUT '.*': the folder .* does not exist"):
        report(loaded, tmp_path / "missing" / "report.pdf")
    (tmp_path / "a folder.pdf").mkdir()
    with pytest.raises(QgsProcessingException, match="cannot be written"):
        report(loaded, tmp_path / "a folder.pdf")


def test_a_cancel_between_pages_leaves_no_report(loaded, tmp_path):
    class CancelAtTheThirdPage(QgsProcessingFeedback):
        def setProgress(self, progress):
            super().setProgress(progress)
            if progress >= 300 / (POLYGONS + 1) - 1e-9:
                self.cancel()

    with pytest.raises(QgsProcessingException, match="Cancelled: no report written"):
        report(loaded, tmp_path / "report.pdf", feedback=CancelAtTheThirdPage())
    assert not (tmp_path / "report.pdf").exists()
