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

    feedback = extra.pop("feedback", None) or QgsProcessingFeedback()
    parameters = {"INPUT": loaded["OUTPUT"], "ANNUAL": loaded["ANNUAL"], "EVENTS": loaded["EVENTS"],
                  "TIMESERIES": loaded["TIMESERIES"], "OUTPUT": str(path)}
    parameters.update(extra)
    return processing.run("wit:report", parameters, feedback=feedback)


def natural(text: str) -> list:
    """'a2' before 'a10': the order the report's pages by id are meant to have."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", text) if part]


def earlier_report(path) -> bytes:
    """A report already at ``path``, which a refused or cancelled run must leave as it is."""
    path.write_bytes(b"%PDF-1.4 an earlier report")
    return path.read_bytes()


def statistics_rows(loaded) -> list[dict]:
    names = ["wit_id", "wit_load_status", "wit_load_error", "wit_obs", "wit_wet_pct", "wit_latest_rank_pct"]
    return [dict(zip(names, row)) for row in read_table(loaded["OUTPUT"], ", ".join(names))]


def test_a_summary_page_then_one_page_per_wetland_each_with_its_own_numbers(loaded, tmp_path):
    result = report(loaded, tmp_path / "report.pdf")
    assert result["PAGES"] == POLYGONS + 1 == pdf_pages(tmp_path / "report.pdf")
    texts = page_texts(tmp_path / "report.pdf")
    rows = sorted(statistics_rows(loaded), key=lambda row: natural(row["wit_id"]))
    assert "%d wetlands" % POLYGONS in texts[0]
    assert re.search(r"loaded\s+%d" % (POLYGONS - 1), texts[0]) and re.search(r"failed\s+1", texts[0])
    for row, text in zip(rows, texts[1:]):
        assert text.lstrip().startswith(row["wit_id"])  # the title
        if row["wit_load_status"] == "loaded":
            assert "Observations: %d," % row["wit_obs"] in text
            assert "Wet observations: %.1f %%" % row["wit_wet_pct"] in text
            assert "No plot" not in text and "The last ten years" in text
        else:  # a page of its own, saying why
            words = " ".join(text.split())  # the statistics' lines wrap where each QGIS's fonts make them
            assert "Result: failed: %s" % " ".join(row["wit_load_error"].split("/")[0].split()) in words
            assert "No plot: " in text


def test_pages_in_the_order_asked_for(loaded, tmp_path):
    report(loaded, tmp_path / "ranked.pdf", ORDER=1)
    rows = statistics_rows(loaded)
    expected = sorted(rows, key=lambda row: (row["wit_latest_rank_pct"] is None, -(row["wit_latest_rank_pct"] or 0),
                                             natural(row["wit_id"])))
    titles = [text.split()[0] for text in page_texts(tmp_path / "ranked.pdf")[1:]]
    assert titles == [row["wit_id"] for row in expected]
    assert titles != sorted(titles, key=natural)  # the sample's ranks are in no id order: the test can tell


def grey(path_png) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path_png).convert("L"), dtype=np.float64)


REGIONS = {"map": (10, 27, 102, 101), "statistics": (106, 27, 200, 100), "plot": (10, 112, 200, 178),
           "annual table": (10, 187, 200, 239), "events table": (10, 247, 200, 279)}  # mm on the A4 page


def region_differences(ours: np.ndarray, reference: np.ndarray) -> dict:
    """Mean absolute grey difference per region of the page (0-255)."""
    per_mm = ours.shape[1] / 210
    return {name: float(np.abs(ours[int(y0 * per_mm):int(y1 * per_mm), int(x0 * per_mm):int(x1 * per_mm)]
                               - reference[int(y0 * per_mm):int(y1 * per_mm), int(x0 * per_mm):int(x1 * per_mm)]
                               ).mean()) for name, (x0, y0, x1, y1) in REGIONS.items()}


# Mean grey levels (0-255) a region may differ by: text is drawn a little differently by each QGIS
# (fonts, hinting, the label API of 3.22 and of later versions); the map and the plot hardly at all.
TOLERANCES = {"map": 4.5, "plot": 4.5, "statistics": 8.0, "annual table": 8.0, "events table": 8.0}


def test_a_page_looks_as_it_did(loaded, tmp_path):
    report(loaded, tmp_path / "report.pdf")
    subprocess.run(["pdftoppm", "-r", "40", "-f", "2", "-l", "2", "-png", "-singlefile", str(tmp_path / "report.pdf"),
                    str(tmp_path / "page2")], check=True)
    ours, reference = grey(tmp_path / "page2.png"), grey(REFERENCE_PAGE)
    assert ours.shape == reference.shape
    differences = region_differences(ours, reference)
    assert all(differences[name] < TOLERANCES[name] for name in REGIONS), differences
    # A region left empty (a map, plot, text or table missing) would differ by more than it may.
    blank = region_differences(np.full_like(reference, 255), reference)
    assert all(blank[name] > TOLERANCES[name] + 4 for name in REGIONS), blank


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
    before = earlier_report(tmp_path / "report.pdf")
    with pytest.raises(QgsProcessingException, match="LAYOUT '.*bad.qpt' %s" % problem):
        report(loaded, tmp_path / "report.pdf", LAYOUT=str(tmp_path / "bad.qpt"))
    assert (tmp_path / "report.pdf").read_bytes() == before


def test_a_layer_that_is_not_load_wit_results_output_is_refused_by_name(qgis_app, canberra_zip, tmp_path):
    import processing

    layer = QgsVectorLayer(str(canberra_zip), "canberra", "ogr")
    before = earlier_report(tmp_path / "report.pdf")
    with pytest.raises(QgsProcessingException, match="Input layer 'canberra' is not Load WIT results' statistics "
                                                     "layer: it has no wit_events"):
        processing.run("wit:report", {"INPUT": layer, "OUTPUT": str(tmp_path / "report.pdf")})
    assert (tmp_path / "report.pdf").read_bytes() == before


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

    before = earlier_report(tmp_path / "report.pdf")
    with pytest.raises(QgsProcessingException, match="Cancelled: no report written"):
        report(loaded, tmp_path / "report.pdf", feedback=CancelAtTheThirdPage())
    assert (tmp_path / "report.pdf").read_bytes() == before  # the earlier report, whole
    assert [path.name for path in tmp_path.iterdir()] == ["report.pdf"]  # and nothing half-written beside it
