"""Styles applied when Processing loads an output into the desktop: the map says something at a glance.

Results are graduated by ``wit_wet_pct`` with a map tip and a layer action that show the
polygon's WIT plot; Dispatch WIT's output is categorized by ``wit_status``. Processing
calls a post-processor on the main thread after the run; it keeps only a pointer, so the
instances live here for the whole session (one per kind, they hold no state).
"""

from __future__ import annotations

from qgis.core import (
    QgsAction,
    QgsCategorizedSymbolRenderer,
    QgsClassificationRange,
    QgsFillSymbol,
    QgsGraduatedSymbolRenderer,
    QgsProcessingLayerPostProcessorInterface,
    QgsRendererCategory,
    QgsRendererRange,
    QgsVectorLayer,
)

from ..wit_provider.job_status import OUTCOMES

# Dry polygons in the plot's dry-vegetation beige, wetter ones in deepening blues. Most wetlands
# are wet in a few percent of observations (the sample's median is 2.7 %), so the low classes are narrow.
WET_CLASSES = ((0, 2, "#e6daa6"), (2, 5, "#c6dbef"), (5, 10, "#9ecae1"), (10, 25, "#4292c6"), (25, 50, "#2171b5"),
               (50, 100, "#08306b"))
STATUS_COLOURS = tuple(zip(OUTCOMES, ("#1a9850", "#d73027", "#bdbdbd", "#fdae61", "#7b3294")))
PLOT_ACTION = "Show WIT plot"
_PLUGIN_PACKAGE = __name__.rsplit(".", 2)[0]  # the folder the plugin is installed under
_ACTION_CODE = ("from %s.algorithms.plot_viewer import show_plot\n"
                "show_plot('[%% @layer_id %%]', [%% $id %%])" % _PLUGIN_PACKAGE)
# A file URL that works for POSIX and Windows paths (C:\\… → file:///C:/…) and spaces.
MAP_TIP = ('<b>[% "wit_load_status" %]</b> [% "wit_load_error" %]<br>'
           '[% CASE WHEN "wit_plot" IS NOT NULL THEN \'<img width="480" src="file:///\' || '
           'replace(regexp_replace(replace("wit_plot", \'\\\\\', \'/\'), \'^/+\', \'\'), \' \', \'%20\') || \'">\' '
           'ELSE \'\' END %]')


def style_results(layer: QgsVectorLayer) -> None:
    """Graduated by wit_wet_pct, plus the plot as map tip and as a layer action."""
    ranges = [QgsRendererRange(QgsClassificationRange("%g–%g %% wet" % (low, high), low, high),
                               _fill(colour)) for low, high, colour in WET_CLASSES]
    renderer = QgsGraduatedSymbolRenderer("wit_wet_pct", ranges)
    layer.setRenderer(renderer)
    layer.setMapTipTemplate(MAP_TIP)
    actions = layer.actions()
    if not any(action.name() == PLOT_ACTION for action in actions.actions()):
        actions.addAction(QgsAction(QgsAction.ActionType.GenericPython, PLOT_ACTION, _ACTION_CODE, "", False,
                                    "WIT plot", {"Feature", "Canvas"}))
    layer.triggerRepaint()


def style_dispatch(layer: QgsVectorLayer) -> None:
    """Categorized by wit_status."""
    categories = [QgsRendererCategory(status, _fill(colour), status) for status, colour in STATUS_COLOURS]
    layer.setRenderer(QgsCategorizedSymbolRenderer("wit_status", categories))
    layer.triggerRepaint()


def _fill(colour: str) -> QgsFillSymbol:
    return QgsFillSymbol.createSimple({"color": colour, "outline_color": "#404040", "outline_width": "0.2"})


class _Styler(QgsProcessingLayerPostProcessorInterface):
    def __init__(self, style):
        super().__init__()
        self.style = style

    def postProcessLayer(self, layer, context, feedback):
        if isinstance(layer, QgsVectorLayer) and layer.isValid():
            self.style(layer)


_STYLERS: dict = {}
_STYLES = {"results": style_results, "dispatch": style_dispatch}


def style_on_completion(context, dest_id: str, kind: str) -> None:
    """Style ``dest_id`` as ``kind`` ('results' or 'dispatch') if Processing loads it when the run ends."""
    if not context.willLoadLayerOnCompletion(dest_id):
        return
    if kind not in _STYLERS:
        _STYLERS[kind] = _Styler(_STYLES[kind])
    context.layerToLoadOnCompletionDetails(dest_id).setPostProcessor(_STYLERS[kind])
