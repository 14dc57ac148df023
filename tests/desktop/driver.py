"""Runs inside the real QGIS desktop (qgis.bin --code): opens Dispatch WIT, Load WIT results and the
batch dialog, reports their Advanced parameters groups, saves screenshots, runs a batch of two
layers (the second in yearly time increments), and writes what it saw to report.json.

Environment: WIT_DESKTOP_OUT (folder), WIT_WPS_URL, WIT_LAYERS (two paths, separated by '|').
"""

import os
import time

from harness import OUT, finish, later, report
from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtCore import QTimer
from qgis.utils import iface

report["ticks"] = 0
report["qgis_version"] = Qgis.QGIS_VERSION_INT
ticker = QTimer()
ticker.timeout.connect(lambda: report.__setitem__("ticks", report["ticks"] + 1))


def open_dialogs():
    from processing.gui.AlgorithmDialog import AlgorithmDialog

    algorithm = QgsApplication.processingRegistry().createAlgorithmById("wit:dispatchwit")
    report["algorithm_found"] = algorithm is not None
    dialog = AlgorithmDialog(algorithm, False, iface.mainWindow())
    dialog.show()
    panel = dialog.mainWidget()
    report["parameters"] = [p.name() for p in algorithm.parameterDefinitions()]
    report["shown"] = sorted(set(getattr(panel, "wrappers", {})) | set(getattr(panel, "outputWidgets", {})))
    report["help"] = algorithm.shortHelpString()
    report["provider_icon"] = not algorithm.provider().icon().isNull()
    loading = QgsApplication.processingRegistry().createAlgorithmById("wit:loadresults")
    loading_dialog = AlgorithmDialog(loading, False, iface.mainWindow())
    loading_dialog.show()
    globals()["dialogs"] = [dialog, loading_dialog]
    later(1500, lambda: shoot(dialog, algorithm, loading_dialog))


def advanced_group(dialog) -> dict:
    """The dialog's Advanced parameters group: its title, whether it is collapsed, which parameters it holds."""
    from qgis.PyQt.QtWidgets import QGroupBox

    panel = dialog.mainWidget()
    # QGIS's grpAdvanced, a QgsCollapsibleGroupBox that PyQt sees as its QGroupBox base
    groups = [g for g in dialog.findChildren(QGroupBox) if g.objectName() == "grpAdvanced"]
    if not groups:
        return {}
    group = groups[0]
    wrappers = dict(getattr(panel, "wrappers", {}), **getattr(panel, "outputWidgets", {}))
    inside = []
    for name, wrapper in wrappers.items():
        widget = wrapper.wrappedWidget() if hasattr(wrapper, "wrappedWidget") else getattr(wrapper, "widget", wrapper)
        if widget is not None and group.isAncestorOf(widget):
            inside.append(name)
    return {"title": group.title(), "collapsed": group.property("collapsed"), "visible": group.isVisible(),
            "inside": sorted(inside)}


def shoot(dialog, algorithm, loading_dialog):
    from processing.gui.BatchAlgorithmDialog import BatchAlgorithmDialog

    report["advanced"] = {"wit:dispatchwit": advanced_group(dialog), "wit:loadresults": advanced_group(loading_dialog)}
    report["help_urls"] = [algorithm.helpUrl(), loading_dialog.algorithm().helpUrl()]
    dialog.grab().save(str(OUT / "dispatch_wit_dialog.png"))
    loading_dialog.grab().save(str(OUT / "load_results_dialog.png"))
    loading_dialog.close()
    batch = BatchAlgorithmDialog(algorithm, iface.mainWindow())
    batch.show()
    globals()["dialogs"].append(batch)
    later(1500, lambda: run_batch(batch))


def run_batch(batch):
    from processing.tools import dataobjects

    batch.grab().save(str(OUT / "dispatch_wit_batch.png"))
    panel = batch.mainWidget()
    context = dataobjects.createContext()
    layers = os.environ["WIT_LAYERS"].split("|")
    while panel.batchRowCount() < len(layers):
        panel.addRow()
    columns = panel.parameter_to_column
    for row, layer in enumerate(layers):
        panel.wrappers[row][columns["INPUT"]].setParameterValue(layer, context)
        panel.wrappers[row][columns["WPS_URL"]].setParameterValue(os.environ["WIT_WPS_URL"], context)
        panel.wrappers[row][columns["MAX_CONCURRENT"]].setParameterValue(4, context)
        panel.tblParameters.cellWidget(row + 1, columns["OUTPUT"]).setValue(str(OUT / ("batch_%d.gpkg" % row)))
    # The second row in yearly time increments (START 1987, END empty: now), beside a row without.
    panel.wrappers[1][columns["INCREMENT_YEARS"]].setParameterValue(1, context)
    ticker.start(100)
    began = time.monotonic()
    # QGIS 3.22 runs the whole batch inside runAlgorithm; from 3.24 each row is a task and the batch
    # ends when its "Batch Processing" progress task completes.
    manager = QgsApplication.taskManager()
    outputs = [OUT / ("batch_%d.gpkg" % row) for row in range(len(layers))]

    def follow(task_id):
        task = manager.task(task_id)
        if task is not None and task.description().startswith("Batch Processing"):
            task.taskCompleted.connect(lambda: later(0, lambda: batch_done(batch, began, outputs)))
            task.taskTerminated.connect(lambda: later(0, lambda: batch_done(batch, began, outputs)))

    manager.taskAdded.connect(follow)
    batch.runAlgorithm()
    manager.taskAdded.disconnect(follow)
    report["done_when_run_returned"] = all(path.exists() for path in outputs)
    if report["done_when_run_returned"]:
        batch_done(batch, began, outputs)


def batch_done(batch, began, outputs):
    report["batch_seconds"] = time.monotonic() - began
    ticker.stop()
    batch.grab().save(str(OUT / "dispatch_wit_batch_done.png"))
    report["outputs"] = [str(path) for path in outputs]
    finish()


later(2000, open_dialogs)
