"""Runs inside the real QGIS desktop (qgis.bin --code): Dispatch WIT then Load WIT results (with
EVENTS, and ANNUAL with each wetland's outline) as a user would from the toolbox (outputs loaded
into the project), then the "Show WIT plot" action of one polygon, then the Temporal Controller
stepping ANNUAL to one year; saves screenshots and writes what it saw to report.json.

Environment: WIT_DESKTOP_OUT (folder), WIT_WPS_URL, WIT_S3_ENDPOINT, WIT_LAYER (a polygon layer path).
"""

import os

from harness import OUT, finish, later, report, year_frame
from qgis.core import (
    QgsExpressionContext,
    QgsExpressionContextUtils,
    QgsProject,
)
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QDockWidget, QTextEdit
from qgis.utils import iface

SHOWN_YEAR = 2011  # a wet year in Canberra's sample: the map differs from its neighbours


def layer_of(path):
    """The layer Processing loaded from ``path``."""
    return next(layer for layer in QgsProject.instance().mapLayers().values()
                if layer.source().split("|")[0] == path)


def renderer_of(path):
    """The layer Processing loaded from ``path``, and its renderer."""
    layer = layer_of(path)
    renderer = layer.renderer()
    return layer, {"type": renderer.type(), "attribute": getattr(renderer, "classAttribute", lambda: "")()}


def run_both():
    from wit_dispatcher.wit_provider.results.table import reader_name

    report["reader"] = reader_name()  # the parquet reader the plugin takes in this desktop
    import processing

    dispatched = processing.runAndLoadResults("wit:dispatchwit", {
        "INPUT": os.environ["WIT_LAYER"], "WPS_URL": os.environ["WIT_WPS_URL"], "MAX_CONCURRENT": 8,
        "OUTPUT": str(OUT / "dispatched.gpkg")})
    _, report["dispatch_renderer"] = renderer_of(dispatched["OUTPUT"])
    loaded = processing.runAndLoadResults("wit:loadresults", {
        "INPUT": str(OUT / "dispatched.gpkg"), "ID_FIELD": "UID", "S3_ENDPOINT": os.environ["WIT_S3_ENDPOINT"],
        "OUTPUT": str(OUT / "loaded.gpkg"), "PLOTS": str(OUT / "plots"), "ANNUAL": str(OUT / "annual.gpkg"),
        "ANNUAL_OUTLINES": True, "EVENTS": str(OUT / "events.gpkg")})
    layer, report["results_renderer"] = renderer_of(loaded["OUTPUT"])
    annual, report["annual_renderer"] = renderer_of(loaded["ANNUAL"])
    events = layer_of(loaded["EVENTS"])
    report["events_spatial"] = events.isSpatial()
    report_temporal(annual)
    report_relations(layer)
    report["map_tip"] = layer.mapTipTemplate()
    iface.setActiveLayer(layer)
    iface.mapCanvas().setExtent(layer.extent())
    iface.mapCanvas().refresh()
    later(2000, lambda: show_plot(layer))


def show_plot(layer):
    iface.mainWindow().grab().save(str(OUT / "results_map.png"))
    manager = layer.styleManager()
    report["styles"] = sorted(manager.styles())
    report["current_style"] = manager.currentStyle()
    report["trends"] = sorted({str(f["wit_trend"]) for f in layer.getFeatures()})
    show_styles(layer, ["Trend", "Regime"])


def show_styles(layer, names):
    """Each named style in turn, as the layer's Styles menu switches them, a screenshot of each; then
    back to the first and on to the plot action."""
    if not names:
        layer.styleManager().setCurrentStyle("Wet share")
        return show_plot_action(layer)
    layer.styleManager().setCurrentStyle(names[0])
    report["%s_renderer" % names[0].lower()] = {"type": layer.renderer().type(),
                                                "attribute": layer.renderer().classAttribute()}
    iface.mapCanvas().refresh()

    def expand():  # the results layer's legend alone, once the legend has followed the new renderer
        view = iface.layerTreeView()
        for node in QgsProject.instance().layerTreeRoot().findLayers():
            node.setExpanded(node.layerId() == layer.id())
            view.setExpanded(view.node2index(node), node.layerId() == layer.id())
        later(500, shoot_style)

    def shoot_style():
        iface.mainWindow().grab().save(str(OUT / ("results_%s.png" % names[0].lower())))
        show_styles(layer, names[1:])
    later(1500, expand)


def show_plot_action(layer):
    from wit_dispatcher.algorithms import plot_viewer

    actions = {action.name(): action for action in layer.actions().actions()}
    report["actions"] = sorted(actions)
    feature = next(f for f in layer.getFeatures() if f["wit_load_status"] == "loaded")
    report["feature_plot"] = feature["wit_plot"]
    context = QgsExpressionContext(QgsExpressionContextUtils.globalProjectLayerScopes(layer))
    context.setFeature(feature)
    layer.actions().doAction(actions["Show WIT plot"].id(), feature, context)
    report["windows"] = len(plot_viewer._OPEN)
    later(1000, lambda: shoot(plot_viewer._OPEN[-1]))


def shoot(dialog):
    report["window_title"] = dialog.windowTitle()
    dialog.grab().save(str(OUT / "results_plot_window.png"))
    dialog.close()
    later(500, animate_annual)


def report_temporal(annual):
    temporal = annual.temporalProperties()
    report["annual_temporal"] = {"active": temporal.isActive(), "mode": int(temporal.mode()),
                                 "start": temporal.startExpression(), "end": temporal.endExpression(),
                                 "limit": int(temporal.limitMode())}
    report["annual_layer"] = annual.id()


def report_relations(layer):
    """Each relation of the results layer and, for every polygon, how many features it relates to."""
    relations = QgsProject.instance().relationManager().referencedRelations(layer)
    report["relations"] = {r.name(): {"child": r.referencingLayer().name(), "pairs": r.fieldPairs(),
                                      "related": {f["UID"]: len(list(r.getRelatedFeatures(f)))
                                                  for f in layer.getFeatures()}}
                           for r in relations}
    report["wit_events"] = {f["UID"]: f["wit_events"] for f in layer.getFeatures()}


def animate_annual():
    """The Temporal Controller as a user sets it: the years of the record, one-year frames, then SHOWN_YEAR."""
    project = QgsProject.instance()
    annual = project.mapLayer(report["annual_layer"])
    for other in project.mapLayers().values():  # ANNUAL alone on the map
        project.layerTreeRoot().findLayer(other.id()).setItemVisibilityChecked(other is annual)
    dock = next(d for d in iface.mainWindow().findChildren(QDockWidget) if "Temporal" in d.windowTitle())
    dock.show()
    frame, shown = year_frame(annual, SHOWN_YEAR)
    report["frame"] = [frame.begin().toString(Qt.DateFormat.ISODate), frame.end().toString(Qt.DateFormat.ISODate)]
    report["frame_years"] = sorted({f["year"] for f in annual.getFeatures(shown)})
    report["frame_features"] = sum(1 for _ in annual.getFeatures(shown))
    report["year_rows"] = sum(1 for f in annual.getFeatures() if f["year"] == SHOWN_YEAR)
    iface.setActiveLayer(annual)
    iface.mapCanvas().setExtent(annual.extent())
    iface.mapCanvas().refresh()
    later(2500, shoot_annual)


def shoot_annual():
    iface.mainWindow().grab().save(str(OUT / "annual_temporal.png"))
    later(500, report_from_the_toolbox)


def report_from_the_toolbox():
    """Create WIT report from its dialog, as the toolbox opens it: only INPUT and OUTPUT given (ANNUAL
    and EVENTS are the project's), with the plugin's template, then with an edited copy of it."""
    import processing
    from wit_dispatcher.algorithms.report_layout import TEMPLATE

    results = next(layer for layer in QgsProject.instance().mapLayers().values()
                   if layer.source().split("|")[0] == str(OUT / "loaded.gpkg"))
    edited = TEMPLATE.read_text(encoding="utf-8").replace(
        "Wetlands Insight Tool, Digital Earth Australia · WIT Dispatcher", "Prepared for the basin office")
    (OUT / "edited.qpt").write_text(edited, encoding="utf-8")
    report["report_messages"] = {}
    for name, layout in (("report_plugin.pdf", ""), ("report_edited.pdf", str(OUT / "edited.qpt"))):
        dialog = processing.createAlgorithmDialog("wit:report", {"INPUT": results, "LAYOUT": layout,
                                                                 "OUTPUT": str(OUT / name)})
        dialog.show()
        if not layout:
            dialog.grab().save(str(OUT / "report_dialog.png"))
        dialog.runAlgorithm()  # on this thread: layouts belong to the main one
        log = dialog.findChild(QTextEdit, "txtLog")  # the dialog's Log tab
        report["report_messages"][name] = log.toPlainText() if log is not None else ""
        dialog.close()
    finish()


later(2000, run_both)
