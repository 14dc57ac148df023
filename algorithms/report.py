"""Create WIT report: an atlas PDF of Load WIT results, a summary page and one page per wetland.

A thin Processing layer: parameters and the checks that fail before any page is rendered, the
rows read once, and the pages filled from ``wit_provider.results.report`` into the layout of
``report_layout`` (the plugin's template or the user's copy).
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
from qgis.core import (
    QgsFeatureRequest,
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterVectorLayer,
    QgsProject,
    QgsVectorLayer,
)

from ..wit_provider.qgis_bridge.values import nanoseconds, number, plain
from ..wit_provider.results.plot import write_print_plot
from ..wit_provider.results.report import (
    ANNUAL_COLUMNS,
    EVENT_COLUMNS,
    ORDERS,
    cells,
    key_statistics,
    longest_events,
    page_order,
    recent_years,
    run_summary,
)
from ..wit_provider.results.table import FRACTIONS, STAT_FIELDS, Series, merge
from .base import WitAlgorithm
from .qgis_compat import NO_GEOMETRY, NO_THREADING, VECTOR_ANY, VECTOR_POLYGON
from .report_layout import (
    ANNUAL,
    EVENTS,
    MAP,
    PLOT,
    PLOT_NOTE,
    STATISTICS,
    SUBTITLE,
    TEMPLATE,
    TITLE,
    PdfPages,
    TemplateError,
    faded_copy,
    load_template,
    page_millimetres,
    summary_layout,
    table_of,
)

REPORT_FIELDS = {"wit_id", "wit_load_status", "wit_load_error", *STAT_FIELDS}
ANNUAL_NEEDS = {"id", *(name for name, _, _ in ANNUAL_COLUMNS)}
EVENT_NEEDS = {"id", *(name for name, _, _ in EVENT_COLUMNS)}
TIMESERIES_NEEDS = {"id", "time", *FRACTIONS}
NAME_FIELDS = ("name", "Name", "NAME", "wetland_name", "site_name")  # a title's name when NAME_FIELD is not given
ORDER_NAMES = {"id": "by id", "rank": "by the latest year's rank, highest first",
               "trend": "by trend, driest first"}
PLOT_SCALE = 1.25  # the plot's drawing size over its frame's: its text prints at 80 % of its size
# Load WIT results' names for these outputs, as the project shows them once loaded.
TABLE_NAMES = {"ANNUAL": "WIT annual metrics", "EVENTS": "WIT inundation events", "TIMESERIES": "WIT time series"}


class ReportAlgorithm(WitAlgorithm):
    NAME_FIELD = "NAME_FIELD"
    ANNUAL = "ANNUAL"
    EVENTS = "EVENTS"
    TIMESERIES = "TIMESERIES"
    ORDER = "ORDER"
    LAYOUT = "LAYOUT"
    OUTPUT = "OUTPUT"
    DOCS_PAGE = "report.md"

    def name(self) -> str:
        return "report"

    def displayName(self) -> str:
        return self.tr("Create WIT report")

    def flags(self):  # -> QgsProcessingAlgorithm.Flags (Qgis.ProcessingAlgorithmFlags from QGIS 3.36)
        return super().flags() | NO_THREADING

    def shortHelpString(self) -> str:
        return self.tr(
            "An atlas PDF of Load WIT results' statistics layer that a manager can hand on: a first page "
            "summarising the run (wetlands per load status, regime and trend, the dates covered), then one page "
            "per wetland (or site) with its id and name, a map of it on its own extent with its neighbours "
            "faded and a scale bar, DEA's stacked WIT plot at print resolution, its key statistics and its "
            "standing against its own past, the last ten years of annual metrics and the five longest "
            "inundation events. A wetland without a result has its page, saying why.\n\n"
            "<b>Annual metrics</b>, <b>Inundation events</b>, <b>Time series</b>: Load WIT results' ANNUAL, "
            "EVENTS and TIMESERIES outputs; from the toolbox, the project's layers with their fields are "
            "taken when left empty. Without the time series, a page shows the plot Load WIT results wrote "
            "(wit_plot), if any.\n"
            "<b>Order</b>: by id, by the latest year's rank (highest first) or by trend (driest first); "
            "wetlands without that value come last.\n"
            "<b>Layout template</b>: a .qpt with an atlas; by default the plugin's own "
            "(resources/wit_report.qpt), which you can open in the Layout Designer, change and pass back. "
            "Items are found by id (wit_title, wit_subtitle, wit_map, wit_statistics, wit_plot, "
            "wit_plot_note, wit_annual, wit_events); an edited copy may leave any of them out.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterVectorLayer(
            self.INPUT, self.tr("WIT statistics (Load WIT results' output)"), [VECTOR_POLYGON]))
        self.addParameter(QgsProcessingParameterField(
            self.NAME_FIELD, self.tr("Name field for the titles"), None, self.INPUT, optional=True))
        self.addParameter(QgsProcessingParameterVectorLayer(
            self.ANNUAL, self.tr("Annual metrics"), [VECTOR_ANY], optional=True))
        self.addParameter(QgsProcessingParameterVectorLayer(
            self.EVENTS, self.tr("Inundation events"), [VECTOR_ANY], optional=True))
        self.addParameter(QgsProcessingParameterVectorLayer(
            self.TIMESERIES, self.tr("Time series"), [VECTOR_ANY], optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.ORDER, self.tr("Order of the pages"), [self.tr("by id"), self.tr("by the latest year's rank, highest "
                                                                                  "first"),
                                                        self.tr("by trend, driest first")], defaultValue=0))
        self.addParameter(QgsProcessingParameterFile(
            self.LAYOUT, self.tr("Layout template (.qpt; empty: the plugin's own)"), extension="qpt",
            optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, self.tr("WIT report"), self.tr("PDF files (*.pdf)")))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        layer = self.parameterAsVectorLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.INPUT))
        missing = REPORT_FIELDS - set(layer.fields().names())
        if missing:
            raise QgsProcessingException(self.tr(
                "Input layer '{}' is not Load WIT results' statistics layer: it has no {}.").format(
                layer.name(), ", ".join(sorted(missing))))
        tables = {kind: self._table(parameters, context, feedback, kind, needs) for kind, needs in (
            (self.ANNUAL, ANNUAL_NEEDS), (self.EVENTS, EVENT_NEEDS), (self.TIMESERIES, TIMESERIES_NEEDS))}
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        self._check_writable(output)
        template = self.parameterAsFile(parameters, self.LAYOUT, context) or str(TEMPLATE)
        project = QgsProject()
        try:
            layout = load_template(Path(template), project)
        except TemplateError as error:
            raise QgsProcessingException(self.tr("LAYOUT '{}' {}.").format(template, error)) from None
        order = ORDERS[self.parameterAsEnum(parameters, self.ORDER, context)]
        name_field = self.parameterAsString(parameters, self.NAME_FIELD, context) or next(
            (name for name in NAME_FIELDS if layer.fields().lookupField(name) >= 0), "")

        copy = faded_copy(layer)
        project.addMapLayer(copy)
        rows, features = _rows(copy)
        pages = page_order(rows, order)
        feedback.pushInfo(self.tr("{} wetlands, ordered {}; template {}").format(
            len(rows), ORDER_NAMES[order], template))
        annual = _grouped(tables[self.ANNUAL])
        events = _grouped(tables[self.EVENTS])
        series = _series_of(tables[self.TIMESERIES])
        if series is None:
            feedback.pushInfo(self.tr("No time series given: pages show the plots Load WIT results wrote, if any."))

        map_item = layout.itemById(MAP)
        if map_item is not None:
            map_item.setLayers([copy])
            map_item.setKeepLayerSet(True)
            map_item.setCrs(copy.crs())
            map_size = map_item.sizeWithUnits()
        atlas = layout.atlas()
        atlas.setCoverageLayer(copy)
        atlas.setFilterFeatures(False)
        atlas.setSortFeatures(False)
        page_size = page_millimetres(layout)
        first, first_items = summary_layout(project, page_size)
        self._fill_summary(first_items, layer.name(), rows, order)

        partial = output + ".part"  # an earlier report stays as it is until this one is whole
        pdf = PdfPages(partial, page_size)
        if not pdf.painter.isActive():
            pdf.close()
            Path(partial).unlink(missing_ok=True)
            raise QgsProcessingException(self.tr("OUTPUT '{}' cannot be written.").format(output))
        written = False
        try:
            with tempfile.TemporaryDirectory(prefix="wit-report-") as folder:
                pdf.add(first)
                feedback.setProgress(100 / (len(pages) + 1))
                atlas.beginRender()
                for number, index in enumerate(pages, start=1):
                    if feedback.isCanceled():
                        break
                    atlas.seekTo(features[index])
                    if map_item is not None:  # the atlas fits the map to the wetland's shape: back to the page's
                        extent = map_item.extent()
                        map_item.attemptResize(map_size)
                        map_item.zoomToExtent(extent)
                    self._fill_page(layout, rows[index], name_field, annual, events, series,
                                    os.path.join(folder, "plot%d.png" % number),
                                    "%s · page %d of %d, %s" % (layer.name(), number + 1, len(pages) + 1,
                                                                ORDER_NAMES[order]))
                    pdf.add(layout)
                    feedback.setProgress(100 * (number + 1) / (len(pages) + 1))
                else:
                    written = True
                atlas.endRender()
        finally:
            pdf.close()
            if written:
                os.replace(partial, output)
            else:
                Path(partial).unlink(missing_ok=True)  # a report cut short is no report; an earlier one stays
        if not written:
            raise QgsProcessingException(self.tr("Cancelled: no report written."))
        feedback.pushInfo(self.tr("{} pages written to {}").format(pdf.pages, output))
        return {self.OUTPUT: output, "PAGES": pdf.pages}

    def _table(self, parameters, context, feedback, kind: str, needs: set) -> QgsVectorLayer | None:
        """ANNUAL, EVENTS or TIMESERIES as given, else the project's layer of Load WIT results' name for it
        (then any with its fields), said in the log; refused by name when it lacks the fields."""
        layer = self.parameterAsVectorLayer(parameters, kind, context)
        if layer is None:
            project = context.project()
            candidates = [candidate for candidate in (project.mapLayers().values() if project else [])
                          if isinstance(candidate, QgsVectorLayer) and candidate.isValid()
                          and needs <= set(candidate.fields().names())]
            candidates.sort(key=lambda candidate: (candidate.name() != TABLE_NAMES[kind], candidate.name()))
            if candidates:
                feedback.pushInfo(self.tr("{}: the project's layer '{}'").format(kind, candidates[0].name()))
            return candidates[0] if candidates else None
        missing = needs - set(layer.fields().names())
        if missing:
            raise QgsProcessingException(self.tr("{} layer '{}' is not Load WIT results' {} output: it has no {}.")
                                         .format(kind, layer.name(), kind, ", ".join(sorted(missing))))
        return layer

    def _check_writable(self, path: str) -> None:
        """Refuse an OUTPUT the report could not be written to, before any page is rendered."""
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise QgsProcessingException(self.tr("OUTPUT '{}': the folder {} does not exist.").format(path, folder))
        if os.path.isdir(path) or not os.access(folder, os.W_OK) or (os.path.exists(path)
                                                                      and not os.access(path, os.W_OK)):
            raise QgsProcessingException(self.tr("OUTPUT '{}' cannot be written: check the folder's permissions.")
                                         .format(path))

    def _fill_summary(self, items: dict, layer_name: str, rows: list[dict], order: str) -> None:
        summary = run_summary(rows)
        items["title"].setText(self.tr("WIT report: {}").format(layer_name))
        span = "observed from %s to %s" % (summary.first, summary.last) if summary.first else "no observations"
        items["about"].setText(self.tr("{} wetlands, {}; one page per wetland, {}.\nMade {} with WIT Dispatcher "
                                       "from Digital Earth Australia's Wetlands Insight Tool.").format(
            summary.wetlands, span, ORDER_NAMES[order], date.today().isoformat()))
        for name, heading, counts in (("statuses", "Load status", summary.statuses),
                                      ("regimes", "Regime", summary.regimes), ("trends", "Trend", summary.trends)):
            table = items[name]
            columns = table.columns()
            columns[0].setHeading(heading)
            columns[1].setHeading("Wetlands")
            table.setColumns(columns)
            table.setContents([[label, str(count)] for label, count in counts])

    def _fill_page(self, layout, row: dict, name_field: str, annual: dict, events: dict, series: dict | None,
                   plot_path: str, subtitle: str) -> None:
        ident = _ident(row["wit_id"])
        name = row.get(name_field) if name_field else None
        _set_text(layout, TITLE, "%s — %s" % (ident, name) if name not in (None, "") else ident)
        _set_text(layout, SUBTITLE, subtitle)
        _set_text(layout, STATISTICS, "\n".join("%s: %s" % line for line in key_statistics(row)))
        note = self._plot(layout, row, series, plot_path)
        _set_text(layout, PLOT_NOTE, note)
        for ident_of_table, rows_of, columns, pick in ((ANNUAL, annual, ANNUAL_COLUMNS, recent_years),
                                                       (EVENTS, events, EVENT_COLUMNS, longest_events)):
            table = table_of(layout, ident_of_table)
            if table is not None:
                table.setContents([cells(r, columns) for r in pick(rows_of.get(ident, []))])
        layout.refresh()

    def _plot(self, layout, row: dict, series: dict | None, path: str) -> str:
        """Draw the page's plot; '' or a note saying why there is none (or whose it is)."""
        picture = layout.itemById(PLOT)
        if picture is None:
            return ""
        ident = _ident(row["wit_id"])
        found = series.get(ident) if series is not None else None
        if found is not None and len(found):  # the comparison with the past is in the statistics beside it
            frame = picture.sizeWithUnits()  # drawn a quarter larger than its frame: the legend and labels fit
            inches = PLOT_SCALE / 25.4
            write_print_plot(found, ident, path, (inches * frame.width(), inches * frame.height()))
            picture.setPicturePath(path)
            return ""
        png = row.get("wit_plot")
        if series is None and png and os.path.exists(png):
            picture.setPicturePath(png)
            return ""
        picture.setPicturePath("")
        if row.get("wit_load_status") != "loaded":
            return "No plot: %s" % (row.get("wit_load_error") or row.get("wit_load_status") or "no result")
        return "No plot: %s is not in the time series given" % ident if series is not None else \
            "No plot: give Load WIT results' TIMESERIES output for one"


def _set_text(layout, ident: str, text: str) -> None:
    item = layout.itemById(ident)
    if item is not None:
        item.setText(text)


def _ident(value) -> str:
    """A wetland's id as the tables are keyed: text ('' for NULL)."""
    return "" if value is None else str(value)


def _records(layer: QgsVectorLayer):
    """Each feature of ``layer`` (no geometry) and its attributes as a dict of plain values."""
    names = layer.fields().names()
    for feature in layer.getFeatures(QgsFeatureRequest().setFlags(NO_GEOMETRY)):
        yield feature, dict(zip(names, (plain(value) for value in feature.attributes())))


def _rows(layer: QgsVectorLayer) -> tuple[list[dict], list]:
    """Each feature's attributes as a dict of plain values, and the features, in the layer's order."""
    rows, features = [], []
    for feature, row in _records(layer):
        rows.append(row)
        features.append(feature)
    return rows, features


def _grouped(layer: QgsVectorLayer | None) -> dict[str, list[dict]]:
    """A table's rows by their id, read once."""
    found: dict[str, list[dict]] = defaultdict(list)
    for _, row in _records(layer) if layer is not None else ():
        found[_ident(row["id"])].append(row)
    return found


def _series_of(layer: QgsVectorLayer | None) -> dict[str, Series] | None:
    """TIMESERIES as one series per id, read once; None when it was not given."""
    if layer is None:
        return None
    columns: dict[str, list] = defaultdict(list)
    request = QgsFeatureRequest().setFlags(NO_GEOMETRY).setSubsetOfAttributes(
        ["id", "time", *FRACTIONS], layer.fields())
    for feature in layer.getFeatures(request):
        moment = plain(feature["time"])
        if moment is None:
            continue
        columns[_ident(plain(feature["id"]))].append(
            (nanoseconds(moment), *(_fraction(feature[name]) for name in FRACTIONS)))
    series = {}
    for ident, values in columns.items():
        times = np.array([value[0] for value in values], dtype=np.int64)
        fractions = np.array([value[1:] for value in values], dtype=np.float64)
        series[ident] = merge([Series(times, *fractions.T)])
    return series


def _fraction(value) -> float:
    found = number(value)
    return float("nan") if found is None else found
