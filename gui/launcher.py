"""The WIT explorer's action (plugin menu and toolbar) and its dock, made when first opened."""

from __future__ import annotations

from qgis.core import QgsProject
from qgis.gui import QgsDockWidget
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from ..wit_provider.provider import ICON

MENU = "&WIT Dispatcher"
NEEDS = ("The WIT explorer needs matplotlib 3.5 or later in QGIS's Python (Debian: apt-get install "
         "python3-matplotlib; the QGIS installers for Windows and macOS ship it): %s")


class ExplorerLauncher:
    """Owns the explorer's action and dock, so unloading the plugin removes both."""

    def __init__(self, iface):
        self.iface = iface
        self.dock = None
        self.action = QAction(QIcon(str(ICON)), "WIT explorer", iface.mainWindow())
        self.action.setObjectName("WitExplorerAction")
        self.action.setToolTip("WIT explorer: the WIT series of the wetlands selected on the map")
        self.action.triggered.connect(self.open)
        iface.addPluginToMenu(MENU, self.action)
        iface.addToolBarIcon(self.action)

    def open(self, *_checked) -> QgsDockWidget | None:
        """Show the dock (made on first use), following the active layer's selection; None, with a
        message, where matplotlib is missing or too old (the rest of the plugin works without it)."""
        if self.dock is None:
            try:
                from .explorer import WitExplorer
            except ImportError as error:
                self.iface.messageBar().pushWarning("WIT explorer", NEEDS % error)
                return None
            self.dock = WitExplorer(self.iface, self.iface.mainWindow())
            self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.show()
        self.dock.raise_()
        self.dock.follow_layer(self.iface.activeLayer())
        return self.dock

    def open_feature(self, layer_id: str, feature_id: int) -> QgsDockWidget | None:
        """From a layer action: make the feature's layer active, select the feature, show it."""
        layer = QgsProject.instance().mapLayer(layer_id)
        if layer is not None:
            self.iface.setActiveLayer(layer)
            layer.selectByIds([feature_id])
        return self.open()

    def unload(self) -> None:
        """Remove the action and the dock, and every connection they made."""
        self.iface.removePluginMenu(MENU, self.action)
        self.iface.removeToolBarIcon(self.action)
        self.action.triggered.disconnect(self.open)
        self.action.deleteLater()
        if self.dock is not None:
            self.dock.unload()
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
