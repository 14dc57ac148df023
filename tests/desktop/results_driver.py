"""Runs inside the real QGIS desktop (qgis.bin --code): Dispatch WIT then Load WIT results as a user
would from the toolbox (outputs loaded into the project), then the "Show WIT plot" action of one
polygon; saves screenshots and writes what it saw to report.json.

Environment: WIT_DESKTOP_OUT (folder), WIT_WPS_URL, WIT_S3_ENDPOINT, WIT_LAYER (a polygon layer path).
"""

import os

from harness import OUT, finish, later, report
from qgis.core import QgsExpressionContext, QgsExpressionContextUtils, QgsProject
from qgis.utils import iface


def renderer_of(path):
    """The layer Processing loaded from ``path``, and its renderer."""
    layer = next(layer for layer in QgsProject.instance().mapLayers().values()
                 if layer.source().split("|")[0] == path)
    renderer = layer.renderer()
    return layer, {"type": renderer.type(), "attribute": getattr(renderer, "classAttribute", lambda: "")()}


def run_both():
    import processing

    dispatched = processing.runAndLoadResults("wit:dispatchwit", {
        "INPUT": os.environ["WIT_LAYER"], "WPS_URL": os.environ["WIT_WPS_URL"], "MAX_CONCURRENT": 8,
        "OUTPUT": str(OUT / "dispatched.gpkg")})
    _, report["dispatch_renderer"] = renderer_of(dispatched["OUTPUT"])
    loaded = processing.runAndLoadResults("wit:loadresults", {
        "INPUT": str(OUT / "dispatched.gpkg"), "ID_FIELD": "UID", "S3_ENDPOINT": os.environ["WIT_S3_ENDPOINT"],
        "OUTPUT": str(OUT / "loaded.gpkg"), "PLOTS": str(OUT / "plots")})
    layer, report["results_renderer"] = renderer_of(loaded["OUTPUT"])
    report["map_tip"] = layer.mapTipTemplate()
    iface.setActiveLayer(layer)
    iface.mapCanvas().setExtent(layer.extent())
    iface.mapCanvas().refresh()
    later(2000, lambda: show_plot(layer))


def show_plot(layer):
    from wit_dispatcher.algorithms import plot_viewer

    iface.mainWindow().grab().save(str(OUT / "results_map.png"))
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
    finish()


later(2000, run_both)
