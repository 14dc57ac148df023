"""The QGIS plugin: registers the ``wit`` provider, in the desktop and under qgis_process; in the
desktop only, the WIT explorer (``gui``), which qgis_process never loads."""

from __future__ import annotations

from qgis.core import QgsApplication


class WitDispatcherPlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None
        self.explorer = None

    def initProcessing(self) -> None:
        """Called by qgis_process (no iface there) and by initGui in the desktop."""
        from .wit_provider.provider import WitProvider

        if self.provider is None:
            self.provider = WitProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:
        self.initProcessing()
        from qgis.core import QgsProject

        from .algorithms.styling import restore_stored_styles
        from .gui.launcher import ExplorerLauncher

        self.explorer = ExplorerLauncher(self.iface)
        # A GeoPackage written by this plugin, added from its file, shows the styles stored in it.
        QgsProject.instance().layersAdded.connect(restore_stored_styles)

    def show_explorer(self, layer_id: str | None = None, feature_id: int | None = None) -> object:
        """Open the WIT explorer, on one feature when given (the results layers' action)."""
        if self.explorer is None:
            return None
        if layer_id is None or feature_id is None:
            return self.explorer.open()
        return self.explorer.open_feature(layer_id, feature_id)

    def unload(self) -> None:
        """Safe to call twice (QGIS's reload unloads a plugin that may be unloaded already)."""
        if self.explorer is not None:
            from qgis.core import QgsProject

            from .algorithms.styling import restore_stored_styles

            QgsProject.instance().layersAdded.disconnect(restore_stored_styles)
            self.explorer.unload()
            self.explorer = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
