"""Runs inside the real QGIS desktop (qgis.bin --code): the WIT explorer as a user meets it.

Opens Load WIT results' outputs (WIT_RESULTS, WIT_TIMESERIES, WIT_ANNUAL, WIT_EVENTS) as a user
opens the demo's, opens the explorer from its toolbar action, selects one, three and six wetlands
and a failed one, hovers a plot, exports; then, on WIT_SLOW (two polygons whose results come from
a server answering after 3 s and from a file), selects one and at once the other while a timer on
the main thread counts its ticks; last, unloads and reloads the plugin twice. Writes report.json
and screenshots.
"""

import os

from harness import OUT, finish, later, report
from matplotlib.backend_bases import MouseEvent
from matplotlib.dates import date2num
from qgis.core import QgsApplication, QgsExpressionContext, QgsExpressionContextUtils, QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QAction, QDockWidget
from qgis.utils import iface, plugins, reloadPlugin

PLUGIN = "wit_dispatcher"
state = {}


def load(path, name):
    layer = QgsVectorLayer(path, name, "ogr")
    assert layer.isValid(), path
    QgsProject.instance().addMapLayer(layer)
    return layer


def action():
    return iface.mainWindow().findChildren(QAction, "WitExplorerAction")


def docks():
    return iface.mainWindow().findChildren(QDockWidget, "WitExplorer")


def start():
    from wit_dispatcher.wit_provider.results.table import reader_name

    report["reader"] = reader_name()  # the parquet reader the plugin takes in this desktop
    results = load(os.environ["WIT_RESULTS"], "WIT statistics")
    for variable, name in (("WIT_TIMESERIES", "WIT time series"), ("WIT_ANNUAL", "WIT annual metrics"),
                           ("WIT_EVENTS", "WIT inundation events")):
        layer = load(os.environ[variable], name)
        if layer.isSpatial():  # ANNUAL repeats each polygon every year: hidden, the selection shows
            QgsProject.instance().layerTreeRoot().findLayer(layer.id()).setItemVisibilityChecked(False)
    state["results"] = results
    iface.setActiveLayer(results)
    iface.mapCanvas().setExtent(results.extent())
    report["actions_before_open"] = len(action())
    report["docks_before_open"] = len(docks())
    action()[0].trigger()  # the toolbar button
    report["docks_after_open"] = [d.windowTitle() for d in docks()]
    state["dock"] = docks()[0]
    loaded = [f for f in results.getFeatures() if f["wit_load_status"] == "loaded"]
    state["loaded"] = [f.id() for f in loaded]
    state["uids"] = {f.id(): f["UID"] for f in results.getFeatures()}
    from wit_dispatcher.algorithms.styling import EXPLORER_ACTION, style_results

    style_results(results)  # as when Load WIT results' output opens in the desktop: its actions
    actions = {a.name(): a for a in results.actions().actions()}
    report["layer_actions"] = sorted(actions)
    context = QgsExpressionContext(QgsExpressionContextUtils.globalProjectLayerScopes(results))
    context.setFeature(loaded[0])
    results.actions().doAction(actions[EXPLORER_ACTION].id(), loaded[0], context)  # selects it, shows it
    report["selected_by_action"] = results.selectedFeatureIds()
    report["acted_on"] = loaded[0].id()
    wait_shown(state["dock"], one)


def select(ids, then):
    """Select ``ids`` on the followed layer and call ``then`` once the dock has shown them."""
    dock = state["dock"]
    iface.activeLayer().selectByIds(ids)
    wait_shown(dock, then)


def wait_shown(dock, then, waited=0):
    if dock.task is None and dock.wetlands:
        later(300, then)  # the canvas draws on the next turns of the event loop
    elif waited > 30_000:
        report["error"] = "the explorer showed nothing within 30 s: %s" % dock.message.text()
        finish()
    else:
        later(100, lambda: wait_shown(dock, then, waited + 100))


def plots(dock):
    """What the canvas holds: each plot's title and how many observations its stacked areas span."""
    return [{"title": ax.get_title(), "observations": _drawn(ax),
             "stack_x": [float(f(ax.collections[0].get_paths()[0].vertices[:, 0])) for f in (min, max)],
             "first_last": [float(date2num(t)) for t in _times(wetland)]}
            for ax, wetland in dock.plot_axes.items()]


def _drawn(ax):
    """How many observations the canvas' stacked areas pass through: their distinct x positions."""
    import numpy as np

    return len(np.unique(ax.collections[0].get_paths()[0].vertices[:, 0]))


def _times(wetland):
    return [_time(wetland, i) for i in (0, -1)]


def _time(wetland, index):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(int(wetland.series.time[index]) / 1e9, tz=timezone.utc)


def one():
    dock = state["dock"]
    report["one"] = {"plots": plots(dock), "message": dock.message.text(), "uid": state["uids"][state["loaded"][0]],
                     "annual_bars": len(dock.annual_figure.axes[0].patches), "events_rows": dock.events.rowCount(),
                     "annual_rows": len(dock.wetlands[0].annual), "events": len(dock.wetlands[0].events),
                     "standing": dock.standing.text(), "standing_visible": dock.standing.isVisible(),
                     "sen_lines": [[line.get_xdata().tolist(), line.get_ydata().tolist(), line.get_color()]
                                   for line in dock.sen_lines],
                     "faint_bars": sum(1 for bar in dock.annual_figure.axes[0].patches
                                       if bar.get_facecolor()[:3] == (208 / 255, 208 / 255, 208 / 255))}
    ax, wetland = next(iter(dock.plot_axes.items()))
    middle = len(wetland.series.time) // 2  # inside the axes, not on their edge
    moment = _time(wetland, middle)
    x, y = ax.transData.transform((date2num(moment), 50))
    dock.canvas.callbacks.process("motion_notify_event", MouseEvent("motion_notify_event", dock.canvas, x, y))
    hover = dock.hovers[ax]
    report["hover"] = {"visible": hover.get_visible(), "text": hover.get_text(),
                       "expected_time": moment.strftime("%Y-%m-%d %H:%M")}
    dock.export_csv(str(OUT / "explorer_series.csv"))
    dock.export_png(str(OUT / "explorer_plot.png"))
    iface.mainWindow().grab().save(str(OUT / "explorer_main.png"))
    dock.grab().save(str(OUT / "explorer_one.png"))
    select(state["loaded"][1:4], three)


def three():
    dock = state["dock"]
    report["three"] = {"plots": plots(dock), "uids": [state["uids"][i] for i in state["loaded"][1:4]],
                       "events_rows": dock.events.rowCount(), "message": dock.message.text(),
                       "standing": dock.standing.text(),
                       "sen_lines": [[line.get_color(), line.get_xdata().tolist()] for line in dock.sen_lines]}
    dock.grab().save(str(OUT / "explorer_three.png"))
    select(state["loaded"][:6], six)


def six():
    dock = state["dock"]
    report["six"] = {"titles": [p["title"] for p in plots(dock)], "message": dock.message.text()}
    failed = [f.id() for f in state["results"].getFeatures() if f["wit_load_status"] == "failed"]
    select(failed[:1], failed_one)


def failed_one():
    dock = state["dock"]
    report["failed"] = {"message": dock.message.text(), "plots": len(dock.plot_axes),
                        "uid": state["uids"][iface.activeLayer().selectedFeatureIds()[0]]}
    slow = load(os.environ["WIT_SLOW"], "slow results")
    iface.setActiveLayer(slow)
    ids = sorted(slow.allFeatureIds())
    state["ticks"] = 0
    timer = QTimer()
    timer.timeout.connect(lambda: state.__setitem__("ticks", state["ticks"] + 1))
    timer.start(100)
    state["timer"] = timer
    slow.selectByIds([ids[0]])  # its result takes 3 s to arrive
    later(500, lambda: newer(slow, ids))


def newer(slow, ids):
    state["ticks_while_slow"] = state["ticks"]
    slow.selectByIds([ids[1]])  # a newer selection: its file reads at once
    wait_shown(state["dock"], lambda: later(4000, after_slow))


def after_slow():
    dock = state["dock"]
    state["timer"].stop()
    report["slow"] = {"ticks_in_first_500_ms": state["ticks_while_slow"], "ticks": state["ticks"],
                      "titles": [p["title"] for p in plots(dock)], "tasks": QgsApplication.taskManager().count(),
                      "message": dock.message.text(), "annual": [list(row) for row in dock.wetlands[0].annual],
                      "standing": dock.standing.text(),
                      "events": [[str(v) for v in event] for event in dock.wetlands[0].events]}
    unload_and_reload()


def unload_and_reload():
    dock = state["dock"]
    follow, show = dock.follow_layer, dock.show_selection
    layer = dock.layer
    plugins[PLUGIN].unload()
    report["still_connected"] = []
    for name, signal, slot in (("currentLayerChanged", iface.currentLayerChanged, follow),
                               ("selectionChanged", layer.selectionChanged, show)):
        try:
            signal.disconnect(slot)
            report["still_connected"].append(name)
        except TypeError:  # not connected: what unload must leave
            pass
    later(500, after_unload)


def after_unload():
    report["after_unload"] = {"actions": len(action()), "docks": len(docks())}
    reloadPlugin(PLUGIN)
    later(500, lambda: after_reload(1))


def after_reload(number):
    found = {"actions": len(action()), "docks": len(docks())}
    action()[0].trigger()
    found["docks_after_open"] = len(docks())
    report["reload_%d" % number] = found
    if number == 1:
        reloadPlugin(PLUGIN)
        later(500, lambda: after_reload(2))
    else:
        finish()


later(2000, start)
