"""Styles applied when Processing loads an output into the desktop: the map says something at a glance.

Results are graduated by ``wit_wet_pct``, with three more named styles a user switches to from the
layer's context menu (*Styles*): *Trend*, *Regime* and *Year by year* (each wetland coloured by the
peak wet extent of the year the Temporal Controller shows, from its ``wit_wet_max_by_year``: one
outline per wetland, redrawn on each frame, however many years); a map tip shows the comparison with the past
and the polygon's WIT plot, and layer actions open the plot and the explorer; annual metrics with outlines
are graduated by ``wetw_max`` and animate year by year in the Temporal Controller; Dispatch WIT's
output is categorized by ``wit_status``; the results polygons relate to their annual metrics and
events, so a polygon's form lists them. Processing calls a post-processor on the main thread after
the run, once the layer is in the project; it keeps only a pointer, so the instances live here
until that has happened.

The same styles are stored in each GeoPackage output (its ``layer_styles`` table, the current
one as the layer's default), so a file from a headless run opens styled wherever it is added.
QGIS gives a layer it opens its provider's temporal settings after reading the default style,
which turns the Temporal Controller off again; in the desktop the plugin puts the stored styles
into the layer's style manager as it is added (``restore_stored_styles``), which brings that back.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsAction,
    QgsCategorizedSymbolRenderer,
    QgsClassificationRange,
    QgsFillSymbol,
    QgsGraduatedSymbolRenderer,
    QgsMapLayerStyle,
    QgsMessageLog,
    QgsProcessingLayerPostProcessorInterface,
    QgsProject,
    QgsRelation,
    QgsRendererCategory,
    QgsRendererRange,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QDate
from qgis.PyQt.QtXml import QDomDocument

from ..wit_provider.common.job_states import OUTCOMES
from ..wit_provider.results.gpkg_rows import data_tables
from ..wit_provider.results.history import REGIME_COLOURS, TREND_COLOURS
from ..wit_provider.results.metrics import YEARLY_PEAKS
from .tables import geopackage_table

# Dry polygons in the plot's dry-vegetation beige, wetter ones in deepening blues. Most wetlands
# are wet in a few percent of observations (the sample's median is 2.7 %), so the low classes are narrow.
WET_CLASSES = ((0, 2, "#e6daa6"), (2, 5, "#c6dbef"), (5, 10, "#9ecae1"), (10, 25, "#4292c6"), (25, 50, "#2171b5"),
               (50, 100, "#08306b"))
# wetw_max of a year: the plot's dry-vegetation beige, then from its wet cyan to its open-water blue.
# Each class from its lower bound up to, not including, its upper one (QGIS takes the first range
# that includes a value at either end, so each bound sits just under the next class): 0.01 itself is
# wet, and a value rounded down to 0.01 percentage point (wit_wet_max_by_year) stays in its class.
_BELOW = 1e-9
WETW_CLASSES = tuple((low, high - _BELOW, colour) for low, high, colour in (
    (0, 0.01, "#e6daa6"), (0.01, 0.1, "#9becff"), (0.1, 0.25, "#04d9ff"), (0.25, 0.5, "#0390d6"),
    (0.5, 0.75, "#034dbe"), (0.75, 10, "#030aa7")))
STATUS_COLOURS = tuple(zip(OUTCOMES, ("#1a9850", "#d73027", "#bdbdbd", "#fdae61", "#7b3294")))
PLOT_ACTION = "Show WIT plot"
_PLUGIN_PACKAGE = __name__.rsplit(".", 2)[0]  # the folder the plugin is installed under
_ACTION_CODE = ("from %s.algorithms.plot_viewer import show_plot\n"
                "show_plot('[%% @layer_id %%]', [%% $id %%])" % _PLUGIN_PACKAGE)
EXPLORER_ACTION = "Open in WIT explorer"
_EXPLORER_CODE = ("from qgis.utils import plugins\n"
                  "plugins['%s'].show_explorer('[%% @layer_id %%]', [%% $id %%])" % _PLUGIN_PACKAGE)
# The results layer's named styles.
WET_SHARE_STYLE, TREND_STYLE, REGIME_STYLE, YEAR_STYLE = "Wet share", "Trend", "Regime", "Year by year"
# The named style of a single-style output, as stored in its file and listed in its style manager.
STYLE_NAMES = {"annual": YEAR_STYLE, "dispatch": "WIT status"}
# Year by year: the frame's year's peak (percent); with the Temporal Controller off, the record's; -1: no
# observations that year (or no result).
YEAR_VALUE = ('coalesce(map_get(from_json("%s"), to_string(year(@map_start_time))), '
              'CASE WHEN @map_start_time IS NULL THEN 100 * "wit_max_wet" END, -1)' % YEARLY_PEAKS)
NOT_OBSERVED = "not observed that year, or no result"
STORED = "WIT Dispatcher"  # the description of the styles it stores in layer_styles
# The project's list of layers whose stored styles are in their style manager already.
_PROJECT_SCOPE, _RESTORED = "wit_dispatcher", "stored_styles_restored"
UNCLASSED = "too few years or no result"  # the hollow class: NULL
# The comparison with the past on one line (loaded polygons), then the plot: a file URL that works
# for POSIX and Windows paths (C:\\… → file:///C:/…) and spaces.
MAP_TIP = ('<b>[% "wit_load_status" %]</b> [% "wit_load_error" %]<br>'
           '[% CASE WHEN "wit_load_status" = \'loaded\' THEN '
           '\'Regime \' || coalesce("wit_regime", \'not classified\') || \' · trend \' || '
           'coalesce("wit_trend" || \' (\' || format_number("wit_trend_slope", 1) || \' pp/decade, p \' || '
           'CASE WHEN "wit_trend_p" < 0.001 THEN \'< 0.001\' ELSE format_number("wit_trend_p", 3) END || \')\', '
           '\'not computed\') || '
           'coalesce(\' · \' || "wit_latest_year" || \': rank \' || format_number("wit_latest_rank_pct", 0) || '
           '\' % of earlier years\', \'\') || \'<br>\' ELSE \'\' END %]'
           '[% CASE WHEN "wit_plot" IS NOT NULL THEN \'<img width="480" src="file:///\' || '
           'replace(regexp_replace(replace("wit_plot", \'\\\\\', \'/\'), \'^/+\', \'\'), \' \', \'%20\') || \'">\' '
           'ELSE \'\' END %]')


def style_results(layer: QgsVectorLayer) -> None:
    """Graduated by wit_wet_pct (the current style, *Wet share*); *Trend*, *Regime* and *Year by year*
    as named styles in the layer's style manager; the map tip and the layer actions in each of them."""
    layer.setMapTipTemplate(MAP_TIP)
    _add_action(layer, PLOT_ACTION, _ACTION_CODE, "WIT plot")
    _add_action(layer, EXPLORER_ACTION, _EXPLORER_CODE, "WIT explorer")
    manager = layer.styleManager()
    for name, renderer in ((TREND_STYLE, _categorized("wit_trend", TREND_COLOURS)),
                           (REGIME_STYLE, _categorized("wit_regime", REGIME_COLOURS)),
                           (YEAR_STYLE, _yearly())):
        if name not in manager.styles():
            layer.setRenderer(renderer)
            temporal = layer.temporalProperties()
            if name == YEAR_STYLE:
                _over_the_years(layer)
            style = QgsMapLayerStyle()
            style.readFromLayer(layer)
            manager.addStyle(name, style)
            temporal.setIsActive(False)
    ranges = [QgsRendererRange(QgsClassificationRange("%g–%g %% wet" % (low, high), low, high),
                               _fill(colour)) for low, high, colour in WET_CLASSES]
    layer.setRenderer(QgsGraduatedSymbolRenderer("wit_wet_pct", ranges))
    if WET_SHARE_STYLE not in manager.styles():
        manager.renameStyle(manager.currentStyle(), WET_SHARE_STYLE)
    layer.triggerRepaint()


def _yearly() -> QgsGraduatedSymbolRenderer:
    """ANNUAL's classes of wetw_max, in percent, on the frame's year; hollow where it was not observed."""
    hollow = QgsFillSymbol.createSimple({"style": "no", "outline_color": "#808080", "outline_width": "0.3"})
    ranges = [QgsRendererRange(QgsClassificationRange(NOT_OBSERVED, -1.5, -0.5), hollow)]
    ranges += [QgsRendererRange(QgsClassificationRange(_percent(low, high), 100 * low, 100 * high), _fill(colour))
               for low, high, colour in WETW_CLASSES]
    return QgsGraduatedSymbolRenderer(YEAR_VALUE, ranges)


def _over_the_years(layer: QgsVectorLayer) -> None:
    """Every wetland on the map from the first year any was observed to the end of the last: the
    Temporal Controller's full range is the record's, as with ANNUAL's own years. Start and end
    are constant expressions, not a fixed range: QGIS keeps a fixed-range layer's drawing from one
    frame to the next, and this one's colours change with the frame's year."""
    first, last = (layer.minimumValue(layer.fields().lookupField("wit_first")),
                   layer.maximumValue(layer.fields().lookupField("wit_last")))
    if not (isinstance(first, QDate) and isinstance(last, QDate) and first.isValid() and last.isValid()):
        return  # nothing loaded: no years to show
    temporal = layer.temporalProperties()
    temporal.setMode(Qgis.VectorTemporalMode.FeatureDateTimeStartAndEndFromExpressions)
    temporal.setStartExpression("make_datetime(%d, 1, 1, 0, 0, 0)" % first.year())
    temporal.setEndExpression("make_datetime(%d, 1, 1, 0, 0, 0)" % (last.year() + 1))
    temporal.setLimitMode(Qgis.VectorTemporalLimitMode.IncludeBeginExcludeEnd)
    temporal.setIsActive(True)


def _categorized(field_name: str, colours: tuple) -> QgsCategorizedSymbolRenderer:
    """One class per value with its colour; NULL (too few years, not loaded) hollow: QGIS matches
    NULL to the category whose value is empty."""
    categories = [QgsRendererCategory(value, _fill(colour), value) for value, colour in colours]
    hollow = QgsFillSymbol.createSimple({"style": "no", "outline_color": "#808080", "outline_width": "0.3"})
    categories.append(QgsRendererCategory("", hollow, UNCLASSED))
    return QgsCategorizedSymbolRenderer(field_name, categories)


def _add_action(layer: QgsVectorLayer, name: str, code: str, short_title: str) -> None:
    actions = layer.actions()
    if not any(action.name() == name for action in actions.actions()):
        actions.addAction(QgsAction(QgsAction.ActionType.GenericPython, name, code, "", False, short_title,
                                    {"Feature", "Canvas"}))


def style_dispatch(layer: QgsVectorLayer) -> None:
    """Categorized by wit_status."""
    categories = [QgsRendererCategory(status, _fill(colour), status) for status, colour in STATUS_COLOURS]
    layer.setRenderer(QgsCategorizedSymbolRenderer("wit_status", categories))
    _add_action(layer, EXPLORER_ACTION, _EXPLORER_CODE, "WIT explorer")
    layer.triggerRepaint()


def style_annual(layer: QgsVectorLayer) -> None:
    """Graduated by wetw_max; each feature is on the map from its start (1 January) up to, not
    including, its end (the next 1 January), so the Temporal Controller shows one year at a time.

    The start and end fields are dates; QGIS (3.22 at least) compares a date field with a frame's
    date-time as text, so '2012-01-01' would count as before 2012-01-01T00:00 and each frame would
    show two years. As date-times (to_datetime) they compare as instants."""
    ranges = [QgsRendererRange(QgsClassificationRange(_percent(low, high), low, high), _fill(colour))
              for low, high, colour in WETW_CLASSES]
    layer.setRenderer(QgsGraduatedSymbolRenderer("wetw_max", ranges))
    temporal = layer.temporalProperties()
    temporal.setMode(Qgis.VectorTemporalMode.FeatureDateTimeStartAndEndFromExpressions)
    temporal.setStartExpression('to_datetime("start")')
    temporal.setEndExpression('to_datetime("end")')
    temporal.setLimitMode(Qgis.VectorTemporalLimitMode.IncludeBeginExcludeEnd)
    temporal.setIsActive(True)
    layer.triggerRepaint()


def _percent(low: float, high: float) -> str:
    """The legend of a wetw_max class: the year's largest wet share of the wetland."""
    low, high = round(100 * low, 2), round(100 * high, 2)
    return "max wet ≥ %g %%" % low if high > 100 else "max wet %g–%g %%" % (low, high)


def _fill(colour: str) -> QgsFillSymbol:
    return QgsFillSymbol.createSimple({"color": colour, "outline_color": "#404040", "outline_width": "0.2"})


class _Styler(QgsProcessingLayerPostProcessorInterface):
    """Styles one output layer and tells whoever waits for it that it is in the project."""

    def __init__(self):
        super().__init__()
        self.styles: list = []
        self.loaded: list = []
        self.done = False

    def postProcessLayer(self, layer, context, feedback):
        self.done = True
        if isinstance(layer, QgsVectorLayer) and layer.isValid():
            for style in self.styles:
                style(layer)
            for callback in self.loaded:
                callback(layer, context)


class _Relations:
    """Once the results layer and a child (annual metrics, events) are both in the project, a
    relation from the child's ``id`` to the results layer's ID field."""

    def __init__(self, parent_field: str, names: dict):
        self.parent_field = parent_field
        self.names = names  # child dest id → relation name
        self.parent = None
        self.children: dict = {}

    def parent_loaded(self, layer, context) -> None:
        self.parent = layer
        for dest_id, child in list(self.children.items()):
            self._relate(dest_id, child, context)

    def child_loaded(self, dest_id: str):
        def loaded(layer, context):
            self.children[dest_id] = layer
            if self.parent is not None:
                self._relate(dest_id, layer, context)
        return loaded

    def _relate(self, dest_id: str, child, context) -> None:
        relation = QgsRelation()
        relation.setId("wit_%s_%s" % (child.id(), self.parent.id()))
        relation.setName(self.names[dest_id])
        relation.setReferencingLayer(child.id())
        relation.setReferencedLayer(self.parent.id())
        relation.addFieldPair("id", self.parent_field)
        if relation.isValid():
            context.project().relationManager().addRelation(relation)
        del self.children[dest_id]


_STYLERS: dict = {}  # (context, dest id) → its post-processor, until Processing has called it
_STYLES = {"results": style_results, "dispatch": style_dispatch, "annual": style_annual}


def _styler(context, dest_id: str) -> _Styler | None:
    """The post-processor of ``dest_id`` in this run, if Processing will load it."""
    if not dest_id or not context.willLoadLayerOnCompletion(dest_id):
        return None
    for stale in [key for key, styler in _STYLERS.items() if styler.done]:
        del _STYLERS[stale]
    key = (id(context), dest_id)  # a run that never loaded its layers leaves its own behind, unused
    if key not in _STYLERS:
        _STYLERS[key] = _Styler()
        context.layerToLoadOnCompletionDetails(dest_id).setPostProcessor(_STYLERS[key])
    return _STYLERS[key]


def style_on_completion(context, dest_id: str, kind: str) -> None:
    """Style ``dest_id`` as ``kind`` ('results', 'annual' or 'dispatch') if Processing loads it when the run ends."""
    styler = _styler(context, dest_id)
    if styler is not None:
        styler.styles.append(_STYLES[kind])


def relate_on_completion(context, parent_id: str, parent_field: str, children: dict) -> None:
    """Relate each loaded child layer (relation name → dest id) to the loaded results layer on
    child ``id`` = parent ``parent_field``."""
    parent = _styler(context, parent_id)
    names = {dest_id: name for name, dest_id in children.items() if _styler(context, dest_id) is not None}
    if parent is None or not names:
        return
    relations = _Relations(parent_field, names)
    parent.loaded.append(relations.parent_loaded)
    for dest_id in names:
        _styler(context, dest_id).loaded.append(relations.child_loaded(dest_id))


def store_styles(dest_id: str, kind: str) -> str:
    """``kind``'s styles stored in the GeoPackage ``dest_id`` (``layer_styles``), its current one as
    the layer's default: what a toolbox run shows, for a file opened anywhere. '' once stored (or
    not a GeoPackage: other formats keep no styles), else what went wrong."""
    if geopackage_table(dest_id) is None:
        return ""
    layer = QgsVectorLayer(dest_id, "wit", "ogr")
    if not layer.isValid():
        return "cannot open %s to store its style" % dest_id
    _STYLES[kind](layer)
    manager = layer.styleManager()
    current = manager.currentStyle()
    if kind in STYLE_NAMES:
        manager.renameStyle(current, STYLE_NAMES[kind])
        current = STYLE_NAMES[kind]
    for name in [name for name in manager.styles() if name != current] + [current]:
        manager.setCurrentStyle(name)
        error = layer.saveStyleToDatabase(name, STORED, name == current, "")
        if error:
            return error
    return ""


def restore_stored_styles(layers: list) -> None:
    """Each added layer whose GeoPackage's default style is one ``store_styles`` wrote: the file's
    WIT styles in its style manager, the default current, so it shows what the file was stored
    with, Temporal Controller settings too. Once per layer and project (the project records it), so
    a saved project keeps what its user made of the layer; a failure leaves the layer as QGIS opened it."""
    for layer in layers:
        try:
            _restore(layer)
        except Exception as error:  # a slot: never an error dialog for a layer the user adds
            QgsMessageLog.logMessage("Stored styles not restored for %s: %r" % (layer.name(), error), "WIT Dispatcher",
                                     Qgis.MessageLevel.Warning)


def _restore(layer) -> None:
    if not isinstance(layer, QgsVectorLayer) or not layer.isValid() or layer.providerType() != "ogr":
        return
    found = geopackage_table(layer.source())
    if found is None:
        return
    project = layer.project() or QgsProject.instance()
    done, _ = project.readListEntry(_PROJECT_SCOPE, _RESTORED)
    if layer.id() in done:
        return
    stored = _stored_styles(*found)
    if not stored or not any(is_default for _, _, is_default in stored):  # the file's own default is not ours
        return
    manager = layer.styleManager()
    opened_with = manager.currentStyle()  # 'default', or (QGIS 3.40 on) the stored default's name
    for name, qml, _ in stored:
        if name == manager.currentStyle():  # the live style: read into the layer itself
            document = QDomDocument()
            document.setContent(qml)
            layer.importNamedStyle(document)
        else:
            manager.removeStyle(name)
            manager.addStyle(name, QgsMapLayerStyle(qml))
    default = next(name for name, _, is_default in stored if is_default)
    if manager.setCurrentStyle(default) and opened_with not in {name for name, _, _ in stored}:
        manager.removeStyle(opened_with)  # the default style as opened, less its temporal settings
    project.writeEntry(_PROJECT_SCOPE, _RESTORED, done + [layer.id()])
    layer.triggerRepaint()


def _stored_styles(path: str, table: str | None) -> list[tuple[str, str, bool]]:
    """(name, QML, is the layer's default) of each style ``store_styles`` wrote for ``table`` (the
    file's only table when None), read from the file, where QGIS keeps which style is the default."""
    with contextlib.closing(sqlite3.connect(Path(path).absolute().as_uri() + "?mode=ro", uri=True)) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'layer_styles'").fetchone():
            return []
        if table is None:
            tables = data_tables(db)
            if len(tables) != 1:
                return []
            table = tables[0][0]
        rows = db.execute("SELECT styleName, styleQML, useAsDefault FROM layer_styles WHERE f_table_name = ? AND "
                          "description = ? ORDER BY id", (table, STORED)).fetchall()
    return [(name, qml, bool(is_default)) for name, qml, is_default in rows]
