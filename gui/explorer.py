"""The WIT explorer: a dock that follows the selection of the active WIT layer.

One selected wetland shows its stacked WIT plot (DEA's colours and order), drawn live on a
matplotlib Qt canvas with the navigation toolbar, its regime, trend and latest year's standing,
its peak wet extent per year under Sen's line, and its inundation events; two to four are
compared, one plot each on a shared time axis. Hovering a
plot shows the date and the five fractions of the nearest observation. Series are read in a
background task (``wetland_task``); a newer selection cancels an older one's read.
"""

from __future__ import annotations

import csv
from datetime import datetime, timezone

import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.patheffects import Normal, Stroke
from qgis.core import (
    QgsApplication,
    QgsExpression,
    QgsExpressionContext,
    QgsExpressionContextUtils,
    QgsProject,
    QgsSettings,
    QgsVectorLayer,
)
from qgis.gui import QgsCollapsibleGroupBox, QgsDockWidget
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..wit_provider.qgis_bridge.geometry import ellipsoid_area
from ..wit_provider.results.fetch import S3Settings
from ..wit_provider.results.history import HISTORY_FIELDS, TREND_COLOURS, summary
from ..wit_provider.results.plot import LAYERS, draw_series, plot_name
from ..wit_provider.results.table import FRACTIONS
from .qt_canvas import FigureCanvas, NavigationToolbar
from .wetland_task import Sources, Wetland, WetlandRequest, WetlandTask, plain

MAX_SHOWN = 4
COMPARE_COLOURS = ("#04d9ff", "#030aa7", "#3f9b0b", "#60460f")  # the plot's wet, water, green, soil
RESULTS_FIELD = "wit_load_status"  # Load WIT results' output
DISPATCH_FIELD = "wit_url"  # Dispatch WIT's output
SETTINGS = "wit_dispatcher/explorer/"  # S3 settings for reading result files, kept between sessions


def is_wit_layer(layer: object) -> bool:
    """Load WIT results' OUTPUT or Dispatch WIT's output (any layer with their fields)."""
    if not isinstance(layer, QgsVectorLayer) or not layer.isValid():
        return False
    names = set(layer.fields().names())
    return RESULTS_FIELD in names or DISPATCH_FIELD in names


class WitExplorer(QgsDockWidget):
    """The dock: what it shows follows the active WIT layer's selection."""

    def __init__(self, iface, parent=None):
        super().__init__("WIT explorer", parent)
        self.setObjectName("WitExplorer")
        self.iface = iface
        self.layer = None
        self.task = None
        self.wetlands: list[Wetland] = []  # what is shown
        self.note = ""  # said above the plots while they are shown
        self.plot_axes: dict = {}  # each plot's axes → its wetland
        self.hovers: dict = {}  # each plot's axes → its hover annotation
        self.sen_lines: list = []  # Sen's line of each wetland shown with a trend
        self._build()
        iface.currentLayerChanged.connect(self.follow_layer)
        self.visibilityChanged.connect(self._visible)
        self.follow_layer(iface.activeLayer())

    # --- the widgets

    def _build(self) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        self.message = QLabel()
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        body.setMinimumWidth(420)
        self.figure = _figure(4)
        self.canvas = FigureCanvas(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumHeight(260)
        self.toolbar = NavigationToolbar(self.canvas, body)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.canvas, 3)
        self.standing = QLabel()  # regime, trend and the latest year, one line per wetland
        self.standing.setWordWrap(True)
        self.standing.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.standing)
        self.annual_figure = _figure(1.6)
        self.annual_canvas = FigureCanvas(self.annual_figure)
        self.annual_canvas.setMinimumHeight(130)
        layout.addWidget(self.annual_canvas, 1)
        self.events = QTableWidget(0, 5)
        self.events.setHorizontalHeaderLabels(["wetland", "start", "end", "days", "max wet ha"])
        self.events.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.events.horizontalHeader().setStretchLastSection(True)
        self.events.verticalHeader().setVisible(False)
        self.events.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.events.setMinimumHeight(110)
        layout.addWidget(self.events, 1)
        buttons = QHBoxLayout()
        self.csv_button = QPushButton("Export series (CSV)…")
        self.csv_button.clicked.connect(self._ask_csv)
        self.png_button = QPushButton("Export plot (PNG)…")
        self.png_button.clicked.connect(self._ask_png)
        buttons.addWidget(self.csv_button)
        buttons.addWidget(self.png_button)
        layout.addLayout(buttons)
        layout.addWidget(self._settings_box())
        self.setWidget(body)
        self.canvas.mpl_connect("motion_notify_event", self._hover)
        self._enable_exports()

    def _settings_box(self) -> QgsCollapsibleGroupBox:
        """Where result files are read from when no TIMESERIES table is loaded; collapsed, like
        Processing's advanced parameters."""
        box = QgsCollapsibleGroupBox("Reading result files")
        box.setCollapsed(True)
        form = QFormLayout(box)
        settings = QgsSettings()
        self.endpoint = QLineEdit(settings.value(SETTINGS + "s3_endpoint", "", type=str))
        self.endpoint.setPlaceholderText("empty = AWS; e.g. http://127.0.0.1:9000")
        self.profile = QLineEdit(settings.value(SETTINGS + "aws_profile", "", type=str))
        self.unsigned = QCheckBox("Unsigned S3 requests (public buckets)")
        self.unsigned.setChecked(settings.value(SETTINGS + "s3_unsigned", False, type=bool))
        form.addRow("S3 endpoint", self.endpoint)
        form.addRow("AWS profile", self.profile)
        form.addRow(self.unsigned)
        for edit in (self.endpoint, self.profile):
            edit.editingFinished.connect(self._save_settings)
        self.unsigned.toggled.connect(self._save_settings)
        return box

    def _save_settings(self) -> None:
        settings = QgsSettings()
        settings.setValue(SETTINGS + "s3_endpoint", self.endpoint.text().strip())
        settings.setValue(SETTINGS + "aws_profile", self.profile.text().strip())
        settings.setValue(SETTINGS + "s3_unsigned", self.unsigned.isChecked())

    def s3_settings(self) -> S3Settings:
        return S3Settings(self.endpoint.text().strip(), self.profile.text().strip(), self.unsigned.isChecked())

    # --- following the selection

    def follow_layer(self, layer: object) -> None:
        """The active layer changed: follow its selection if it is a WIT layer."""
        if self.layer is not None:
            try:
                self.layer.selectionChanged.disconnect(self.show_selection)
            except (TypeError, RuntimeError):  # already gone
                pass
        self.layer = layer if is_wit_layer(layer) else None
        if self.layer is not None:
            self.layer.selectionChanged.connect(self.show_selection)
        self.show_selection()

    def _visible(self, visible: bool) -> None:
        if visible:
            self.show_selection()

    def show_selection(self, *_signal_arguments) -> None:
        """Show the selected wetlands of the followed layer (the first four)."""
        if not self.isVisible():
            return
        self._cancel()
        if self.layer is None:
            return self._say("Select a wetland on a WIT layer: Load WIT results' output or Dispatch WIT's.")
        ids = sorted(self.layer.selectedFeatureIds())
        if not ids:
            return self._say("Select one wetland of '%s' to see its WIT series, or two to four to compare them."
                             % self.layer.name())
        shown = ids[:MAX_SHOWN]
        note = "" if len(ids) <= MAX_SHOWN else "%d wetlands selected: showing the first %d. " % (len(ids), MAX_SHOWN)
        requests = [self._request(self.layer.getFeature(fid)) for fid in shown]
        self.note = note
        self._say(note + "Reading %s…" % ", ".join(r.ident for r in requests), keep_plots=True)
        self.task = WetlandTask(requests, Sources.of_project(), self.s3_settings(), self._show)
        QgsApplication.taskManager().addTask(self.task)

    def _request(self, feature) -> WetlandRequest:
        layer = self.layer
        names = layer.fields().names()
        ident = _text(feature["wit_id"]) if "wit_id" in names else _display_name(layer, feature)
        for status_field, error_field, good in ((RESULTS_FIELD, "wit_load_error", "loaded"),
                                                ("wit_status", "wit_error", "succeeded")):
            if status_field in names:
                status = _text(feature[status_field])
                if status != good:
                    error = _text(feature[error_field]) if error_field in names else ""
                    return WetlandRequest(ident, reason="%s: %s (%s)%s" % (
                        ident, status or "no status", status_field, ": " + error if error else ""))
                break
        # A loaded TIMESERIES table comes first; the location is read only when it lacks the wetland.
        location = _text(feature[DISPATCH_FIELD]) if DISPATCH_FIELD in names else ""
        # Load WIT results' own comparison (made with the run's wet threshold), where the layer has it.
        past = {name: plain(feature[name]) for name in HISTORY_FIELDS} if set(HISTORY_FIELDS) <= set(names) else {}
        subsites = int(plain(feature["wit_subsites"]) or 1) if "wit_subsites" in names else 1
        return WetlandRequest(ident, location, _site_ha(feature) if subsites > 1 else _area_ha(layer, feature),
                              past=past, subsites=subsites)

    def _cancel(self) -> None:
        if self.task is not None:
            self.task.done = lambda wetlands: None  # a read that cannot be interrupted ends unseen
            self.task.cancel()
            self.task = None

    def unload(self) -> None:
        """Disconnect from QGIS and stop reading: the plugin is being unloaded."""
        self._cancel()
        self.iface.currentLayerChanged.disconnect(self.follow_layer)
        if self.layer is not None:
            try:
                self.layer.selectionChanged.disconnect(self.show_selection)
            except (TypeError, RuntimeError):
                pass
            self.layer = None

    # --- drawing

    def _say(self, text: str, keep_plots: bool = False) -> None:
        self.message.setText(text)
        if not keep_plots:
            self.wetlands = []
            self._draw()

    def _show(self, wetlands: list[Wetland] | None) -> None:
        """The task's wetlands: plots for those with a series, the reason for the others."""
        self.task = None
        if wetlands is None:  # cancelled in QGIS's task manager
            return self._say("Reading was cancelled: select the wetlands again to read them.")
        self.wetlands = wetlands
        said = [self.note] if self.note else []
        said += [w.reason + "." for w in wetlands if w.reason]
        sources = sorted({w.source for w in wetlands if w.source and not w.reason})
        if sources:
            said.append("Series from %s." % ", ".join(sources))
        tables = sorted({w.tables for w in wetlands if w.tables and not w.reason})
        if tables:
            said.append("Years and events: %s." % ", ".join(tables))
        self.message.setText(" ".join(said))
        self._draw()

    def plotted(self) -> list[Wetland]:
        return [w for w in self.wetlands if w.series is not None and not w.reason]

    def _draw(self) -> None:
        """One stacked plot per wetland on a shared time axis, under one legend."""
        plotted = self.plotted()
        self.figure.clear()
        self.plot_axes, self.hovers = {}, {}
        if plotted:
            grid = self.figure.add_gridspec(len(plotted) + 1, 1, height_ratios=[0.22] + [1] * len(plotted))
            legend = self.figure.add_subplot(grid[0])
            legend.axis("off")
            first = None
            for index, wetland in enumerate(plotted):
                ax = self.figure.add_subplot(grid[index + 1], sharex=first)
                stacks = draw_series(ax, wetland.series, wetland.ident, legend=False, compact=True)
                if first is None:
                    first = ax
                    legend.legend(stacks[::-1], [label for _, label, _ in LAYERS][::-1], loc="center", ncol=3,
                                  fontsize=7, frameon=False)
                if index < len(plotted) - 1:
                    ax.tick_params(labelbottom=False)
                self.plot_axes[ax] = wetland
                self.hovers[ax] = ax.annotate("", (0, 0), xytext=(10, -10), textcoords="offset points", fontsize=7,
                                              va="top", zorder=10, visible=False,
                                              bbox={"boxstyle": "round", "fc": "white", "alpha": 0.9})
        self.canvas.draw_idle()
        self.standing.setText("<br>".join("<b>%s</b>: %s" % (w.ident.replace("<", "&lt;"), summary(
            w.past, short=len(plotted) > 1)) for w in plotted))
        self.standing.setVisible(bool(plotted))
        self._draw_annual(plotted)
        self._list_events(plotted)
        self._enable_exports()

    def _draw_annual(self, plotted: list[Wetland]) -> None:
        """Each year's peak wet extent (wetw_max) as bars, side by side when comparing, years with too
        few observations faint; Sen's line over the valid years, coloured by the trend."""
        self.annual_figure.clear()
        self.sen_lines = []
        if plotted:
            ax = self.annual_figure.add_subplot()
            width = 0.8 / len(plotted)
            for index, wetland in enumerate(plotted):
                offset = -0.4 + width * (index + 0.5)  # this wetland's bars beside the others'
                years = np.array([year for year, _, _ in wetland.annual], dtype=float) + offset
                values = [100 * (value or 0) for _, value, _ in wetland.annual]
                colours = [COMPARE_COLOURS[index] if valid else "#d0d0d0" for _, _, valid in wetland.annual]
                ax.bar(years, values, width, color=colours)
                self._draw_sen_line(ax, wetland, index if len(plotted) > 1 else None, offset)
            ax.set_ylim(-3, 100)  # a flat Sen's line at 0 stays visible above the axis
            ax.set_ylabel("peak wet %", fontsize=7)
            ax.tick_params(labelsize=7)
            if len(plotted) > 1:
                ax.legend([Patch(color=COMPARE_COLOURS[i]) for i in range(len(plotted))], [w.ident for w in plotted],
                          fontsize=7, frameon=False, ncol=len(plotted), loc="lower left", bbox_to_anchor=(0, 1))
            else:
                ax.set_title("Peak wet extent per year, Sen's line; grey: under 4 observations", fontsize=7)
        self.annual_canvas.draw_idle()

    def _draw_sen_line(self, ax, wetland: Wetland, compared: int | None, offset: float) -> None:
        """Sen's line over the wetland's valid years, through its own bars (``offset``): coloured by
        the trend, or by the wetland's bars when ``compared`` is its place among several."""
        record = wetland.history
        if record is None or record.trend is None:
            return
        trend = record.trend
        ends = np.array([record.years[0], record.years[-1]], dtype=float)
        colour = dict(TREND_COLOURS)[trend.direction()] if compared is None else COMPARE_COLOURS[compared]
        (line,) = ax.plot(ends + offset, 100 * (trend.intercept + trend.slope * ends), color=colour, linewidth=1.6,
                          linestyle="-" if trend.direction() != "no trend" else "--", zorder=5,
                          path_effects=[Stroke(linewidth=2.8, foreground="#202020"), Normal()])
        self.sen_lines.append(line)

    def _list_events(self, plotted: list[Wetland]) -> None:
        rows = [(w.ident, *event) for w in plotted for event in w.events]
        self.events.setRowCount(len(rows))
        for row, (ident, start, end, days, max_ha) in enumerate(rows):
            for column, value in enumerate((ident, str(start), str(end), str(days),
                                            "" if max_ha is None else "%.2f" % max_ha)):
                item = QTableWidgetItem(value)
                if column >= 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.events.setItem(row, column, item)

    def _hover(self, event) -> None:
        """The date and the five fractions of the observation nearest the mouse."""
        wetland = self.plot_axes.get(event.inaxes)
        for ax, annotation in self.hovers.items():
            annotation.set_visible(ax is event.inaxes and wetland is not None and event.xdata is not None)
        if wetland is not None and event.xdata is not None:
            index = self._nearest(wetland, event.xdata)
            annotation = self.hovers[event.inaxes]
            annotation.set_text(self.describe(wetland, index))
            annotation.xy = (_datetime(wetland.series.time[index]), event.ydata)
        self.canvas.draw_idle()

    @staticmethod
    def _nearest(wetland: Wetland, xdata: float) -> int:
        nanoseconds = mdates.num2date(xdata).timestamp() * 1e9
        times = wetland.series.time
        index = int(np.searchsorted(times, nanoseconds))
        candidates = [i for i in (index - 1, index) if 0 <= i < len(times)]
        return min(candidates, key=lambda i: abs(times[i] - nanoseconds))

    @staticmethod
    def describe(wetland: Wetland, index: int) -> str:
        """The hover text of ``wetland``'s observation ``index``."""
        series = wetland.series
        moment = _datetime(series.time[index])
        return "%s %s UTC\n" % (wetland.ident, moment.strftime("%Y-%m-%d %H:%M")) + "\n".join(
            "%s %.1f %%" % (label, 100 * getattr(series, name)[index]) for name, label, _ in LAYERS)

    # --- exports

    def _enable_exports(self) -> None:
        for button in (self.csv_button, self.png_button):
            button.setEnabled(bool(self.plotted()))

    def _ask_csv(self) -> None:
        default = plot_name(self.plotted()[0].ident).replace(".png", ".csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export the WIT series", default, "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the WIT plot", plot_name(self.plotted()[0].ident),
                                              "PNG (*.png)")
        if path:
            self.export_png(path)

    def export_csv(self, path: str) -> None:
        """The shown series: id, UTC time and the five fractions, one row per observation."""
        with open(path, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(("id", "time") + FRACTIONS)
            for wetland in self.plotted():
                series = wetland.series
                columns = [getattr(series, name).tolist() for name in FRACTIONS]
                for i, nanoseconds in enumerate(series.time.tolist()):
                    writer.writerow([wetland.ident, _datetime(nanoseconds).strftime("%Y-%m-%dT%H:%M:%S.%fZ")] +
                                    [column[i] for column in columns])

    def export_png(self, path: str) -> None:
        self.figure.savefig(path, format="png")


def _figure(height: float) -> Figure:
    """A figure that lays itself out to the dock's size."""
    return Figure(figsize=(5, height), dpi=100, layout="constrained")


def _datetime(nanoseconds) -> datetime:
    return datetime.fromtimestamp(int(nanoseconds) / 1e9, tz=timezone.utc)


def _text(value) -> str:
    """A field value as text; QGIS's NULL as ''."""
    if value is None or (hasattr(value, "isNull") and value.isNull()):
        return ""
    return str(value)


def _display_name(layer, feature) -> str:
    """The feature's name by the layer's display expression (QGIS picks a name-like field), else its id."""
    context = QgsExpressionContext(QgsExpressionContextUtils.globalProjectLayerScopes(layer))
    context.setFeature(feature)
    name = _text(QgsExpression(layer.displayExpression()).evaluate(context))
    return name or str(feature.id())


def _site_ha(feature) -> float | None:
    """A site's area as Load WIT results weighed it, its loaded subsites' (its polygon also counts
    those not loaded, and overlaps twice): its peak wet hectares over its peak wet share."""
    peak, peak_ha = plain(feature["wit_max_wet"]), plain(feature["wit_max_wet_ha"])
    return peak_ha / peak if peak and peak_ha is not None else None


def _area_ha(layer, feature) -> float | None:
    """The polygon's ellipsoidal area in hectares, measured as Load WIT results measures it."""
    project = QgsProject.instance()
    return ellipsoid_area(layer.crs(), project.transformContext(), project.ellipsoid())(feature.geometry())
