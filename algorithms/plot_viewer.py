"""The "Show WIT plot" layer action: the polygon's PNG in a window of the desktop."""

from __future__ import annotations

from qgis.core import QgsProject
from qgis.PyQt.QtGui import QPixmap
from qgis.PyQt.QtWidgets import QDialog, QLabel, QVBoxLayout

_OPEN: list = []  # the windows stay open until closed, not until garbage collected


def show_plot(layer_id: str, feature_id: int):
    """Open the plot of one feature of a results layer; returns the window (None if it has none)."""
    from qgis.utils import iface

    layer = QgsProject.instance().mapLayer(layer_id)
    feature = layer.getFeature(feature_id) if layer is not None else None
    path = feature["wit_plot"] if feature is not None and feature.fields().lookupField("wit_plot") >= 0 else None
    bar = iface.messageBar() if iface is not None else None
    pixmap = QPixmap(str(path)) if path else QPixmap()
    if pixmap.isNull():
        if bar is not None:
            bar.pushWarning("WIT plot", "This polygon has no plot (status: %s)." % (
                feature["wit_load_status"] if feature is not None else "unknown"))
        return None
    dialog = QDialog(iface.mainWindow() if iface is not None else None)
    dialog.setWindowTitle("WIT plot: %s" % path)
    label = QLabel()
    label.setPixmap(pixmap)
    layout = QVBoxLayout(dialog)
    layout.addWidget(label)
    dialog.finished.connect(lambda _result: _OPEN.remove(dialog))
    _OPEN.append(dialog)
    dialog.show()
    return dialog
