"""The WIT report's print layout: the plugin's template, and filling its items page by page.

The template (``resources/wit_report.qpt``) is an ordinary QGIS layout with an atlas, so a user
can open it in the Layout Designer, change it and pass the copy back. Items are found by their
ids; a copy without one of them simply goes without it. ``python -m tools.report_template``
writes the plugin's own template from ``default_layout``.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    Qgis,
    QgsFillSymbol,
    QgsLayoutExporter,
    QgsLayoutFrame,
    QgsLayoutItemLabel,
    QgsLayoutItemMap,
    QgsLayoutItemPicture,
    QgsLayoutItemScaleBar,
    QgsLayoutItemTextTable,
    QgsLayoutPoint,
    QgsLayoutSize,
    QgsLayoutTableColumn,
    QgsPrintLayout,
    QgsProject,
    QgsReadWriteContext,
    QgsRuleBasedRenderer,
    QgsScaleBarSettings,
    QgsTextFormat,
    QgsUnitTypes,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QMarginsF, QRectF, QSizeF, Qt
from qgis.PyQt.QtGui import QColor, QFont, QPageLayout, QPageSize, QPainter, QPdfWriter
from qgis.PyQt.QtXml import QDomDocument

from ..wit_provider.results.report import ANNUAL_COLUMNS, EVENT_COLUMNS
from .qgis_compat import set_label_format

TEMPLATE = Path(__file__).parents[1] / "resources" / "wit_report.qpt"
DPI = 300  # the PDF's rasters (the WIT plot, the map's fills)
MM = QgsUnitTypes.LayoutUnit.LayoutMillimeters
# The items the report fills, by id.
TITLE, SUBTITLE, MAP, SCALEBAR, STATISTICS, PLOT, PLOT_NOTE, ANNUAL, EVENTS = (
    "wit_title", "wit_subtitle", "wit_map", "wit_scalebar", "wit_statistics", "wit_plot", "wit_plot_note",
    "wit_annual", "wit_events")
PAGE_WIDTH, PAGE_HEIGHT = 210.0, 297.0  # A4 portrait, mm
PLOT_SIZE_MM = (190.0, 66.0)  # the plot is drawn to its frame's size


class TemplateError(ValueError):
    """The LAYOUT template cannot make a WIT report; the message is for the user."""


def load_template(path: Path, project: QgsProject) -> QgsPrintLayout:
    """The layout in ``path``, refused unless it is a layout template with its atlas on."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TemplateError("cannot be read: %s" % (getattr(error, "strerror", None) or error)) from None
    document = QDomDocument()
    parsed = document.setContent(text)
    if not (parsed[0] if isinstance(parsed, tuple) else parsed) or document.documentElement().tagName() != "Layout":
        raise TemplateError("is not a QGIS layout template (.qpt)")
    atlas = document.documentElement().firstChildElement("Atlas")
    if atlas.isNull() or atlas.attribute("enabled") != "1":
        raise TemplateError("has no atlas: turn on 'Generate an atlas' in the Layout Designer's Atlas panel")
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    _, loaded = layout.loadFromTemplate(document, QgsReadWriteContext())
    if not loaded:
        raise TemplateError("could not be loaded as a layout")
    layout.atlas().setEnabled(True)
    if layout.pageCollection().pageCount() < 1:
        raise TemplateError("has no page")
    return layout


def faded_copy(layer: QgsVectorLayer) -> QgsVectorLayer:
    """``layer`` for the report's map: the page's wetland drawn strong, its neighbours faded."""
    copy = layer.clone()
    root = QgsRuleBasedRenderer.Rule(None)
    root.appendChild(QgsRuleBasedRenderer.Rule(QgsFillSymbol.createSimple(
        {"color": "4,217,255,110", "outline_color": "3,10,167,255", "outline_width": "0.6"}),
        filterExp="$id = @atlas_featureid", label="this wetland"))
    root.appendChild(QgsRuleBasedRenderer.Rule(QgsFillSymbol.createSimple(
        {"color": "190,190,190,70", "outline_color": "140,140,140,200", "outline_width": "0.2"}),
        label="other wetlands", elseRule=True))
    copy.setRenderer(QgsRuleBasedRenderer(root))
    return copy


def default_layout(project: QgsProject) -> QgsPrintLayout:
    """The plugin's report page, A4 portrait: title, map and statistics, the WIT plot, the last ten
    years and the longest events."""
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    layout.setName("WIT report")
    layout.pageCollection().page(0).setPageSize(QgsLayoutSize(PAGE_WIDTH, PAGE_HEIGHT, MM))
    _label(layout, TITLE, "", (10, 8, 190, 11), 17, bold=True)
    _label(layout, SUBTITLE, "", (10, 19, 190, 6), 8.5, colour="#555555")
    map_item = QgsLayoutItemMap(layout)
    map_item.setId(MAP)
    _place(map_item, (10, 27, 92, 82))
    map_item.setFrameEnabled(True)
    map_item.setAtlasDriven(True)
    map_item.setAtlasScalingMode(QgsLayoutItemMap.AtlasScalingMode.Auto)
    map_item.setAtlasMargin(1.0)  # the wetland's own extent, and as much again around it
    layout.addLayoutItem(map_item)
    scalebar = QgsLayoutItemScaleBar(layout)
    scalebar.setId(SCALEBAR)
    scalebar.setStyle("Single Box")
    scalebar.setLinkedMap(map_item)
    scalebar.setUnits(QgsUnitTypes.DistanceUnit.DistanceMeters)
    scalebar.setUnitLabel("m")
    scalebar.setNumberOfSegments(2)
    scalebar.setNumberOfSegmentsLeft(0)
    scalebar.setSegmentSizeMode(QgsScaleBarSettings.SegmentSizeMode.SegmentSizeFitWidth)  # each page's scale
    scalebar.setMinimumBarWidth(15)
    scalebar.setMaximumBarWidth(35)
    scalebar.setHeight(2)
    scalebar.setTextFormat(_format(7))
    scalebar.attemptMove(QgsLayoutPoint(12, 101, MM))
    layout.addLayoutItem(scalebar)
    _label(layout, STATISTICS, "", (106, 27, 94, 82), 8.5)
    picture = QgsLayoutItemPicture(layout)
    picture.setId(PLOT)
    _place(picture, (10, 112, *PLOT_SIZE_MM))
    picture.setResizeMode(QgsLayoutItemPicture.ResizeMode.Zoom)
    layout.addLayoutItem(picture)
    _label(layout, PLOT_NOTE, "", (10, 112, 190, 8), 8.5, colour="#555555")
    _label(layout, "wit_annual_heading", "The last ten years (calendar years, UTC)", (10, 181, 190, 6), 10,
           bold=True)
    _table(layout, ANNUAL, (10, 187, 190, 52), [heading for _, heading, _ in ANNUAL_COLUMNS])
    _label(layout, "wit_events_heading", "The five longest inundation events", (10, 241, 190, 6), 10, bold=True)
    _table(layout, EVENTS, (10, 247, 190, 32), [heading for _, heading, _ in EVENT_COLUMNS])
    _label(layout, "wit_footer", "Wetlands Insight Tool, Digital Earth Australia · WIT Dispatcher",
           (10, 285, 190, 5), 7.5, colour="#555555")
    layout.atlas().setEnabled(True)
    layout.atlas().setHideCoverage(False)
    return layout


def page_millimetres(layout: QgsPrintLayout) -> tuple[float, float]:
    """The first page's width and height in millimetres, whatever the template's units."""
    size = layout.renderContext().measurementConverter().convert(layout.pageCollection().page(0).pageSize(), MM)
    return size.width(), size.height()


def summary_layout(project: QgsProject, size: tuple[float, float]) -> tuple[QgsPrintLayout, dict]:
    """The report's first page, ``size`` millimetres: a title, a line of the run, and three count tables."""
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    layout.pageCollection().page(0).setPageSize(QgsLayoutSize(*size, MM))
    width = size[0] - 20
    items = {"title": _label(layout, "title", "", (10, 10, width, 12), 18, bold=True),
             "about": _label(layout, "about", "", (10, 24, width, 24), 9.5)}
    column = (width - 10) / 3
    for index, name in enumerate(("statuses", "regimes", "trends")):
        items[name] = _table(layout, name, (10 + index * (column + 5), 52, column, 70), ["", ""])
    return layout, items


def _place(item, rect: tuple) -> None:
    x, y, w, h = rect
    item.attemptMove(QgsLayoutPoint(x, y, MM))
    item.attemptResize(QgsLayoutSize(w, h, MM))


def _format(size: float, bold: bool = False, colour: str = "#000000") -> QgsTextFormat:
    font = QFont("DejaVu Sans")
    font.setBold(bold)
    text_format = QgsTextFormat()
    text_format.setFont(font)
    text_format.setSize(size)
    text_format.setSizeUnit(QgsUnitTypes.RenderUnit.RenderPoints)
    text_format.setColor(QColor(colour))
    return text_format


def _label(layout: QgsPrintLayout, ident: str, text: str, rect: tuple, size: float, bold: bool = False,
           colour: str = "#000000") -> QgsLayoutItemLabel:
    label = QgsLayoutItemLabel(layout)
    label.setId(ident)
    label.setText(text)
    label.setHAlign(Qt.AlignmentFlag.AlignLeft)
    label.setVAlign(Qt.AlignmentFlag.AlignTop)
    set_label_format(label, _format(size, bold, colour))
    _place(label, rect)
    layout.addLayoutItem(label)
    return label


def _table(layout: QgsPrintLayout, ident: str, rect: tuple, headings: list[str]) -> QgsLayoutItemTextTable:
    table = QgsLayoutItemTextTable(layout)
    table.setColumns([QgsLayoutTableColumn(heading) for heading in headings])
    table.setHeaderTextFormat(_format(7.5, bold=True))
    table.setContentTextFormat(_format(7.5))
    table.setCellMargin(0.8)
    table.setGridStrokeWidth(0.1)
    table.setGridColor(QColor("#b0b0b0"))
    table.setEmptyTableBehavior(QgsLayoutItemTextTable.EmptyTableMode.ShowMessage)
    table.setEmptyTableMessage("none")
    layout.addMultiFrame(table)
    frame = QgsLayoutFrame(layout, table)
    frame.setId(ident)
    x, y, w, h = rect
    frame.attemptSetSceneRect(QRectF(x, y, w, h))
    table.addFrame(frame)
    return table


def table_of(layout: QgsPrintLayout, ident: str) -> QgsLayoutItemTextTable | None:
    """The text table whose frame has id ``ident``, if the layout has it."""
    frame = layout.itemById(ident)
    table = frame.multiFrame() if isinstance(frame, QgsLayoutFrame) else None
    return table if isinstance(table, QgsLayoutItemTextTable) else None


class PdfPages:
    """One PDF written page by page from layouts, so progress and cancel come between pages."""

    def __init__(self, path: str, size: tuple[float, float]):
        """``size``: the pages' width and height in millimetres."""
        self.writer = QPdfWriter(path)
        self.writer.setResolution(DPI)
        self.writer.setCreator("WIT Dispatcher")
        self.writer.setTitle("WIT report")
        self.writer.setPageLayout(QPageLayout(QPageSize(QSizeF(*size), QPageSize.Unit.Millimeter),
                                              QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0)))
        self.painter = QPainter(self.writer)
        self.pages = 0

    def add(self, layout: QgsPrintLayout) -> None:
        if self.pages:
            self.writer.newPage()
        context = layout.renderContext()
        context.setDpi(DPI)
        context.setTextRenderFormat(Qgis.TextRenderFormat.AlwaysText)  # searchable and copyable, not outlines
        QgsLayoutExporter(layout).renderPage(self.painter, 0)
        self.pages += 1

    def close(self) -> None:
        if self.painter.isActive():
            self.painter.end()
