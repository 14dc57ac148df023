"""The QGIS plugin: registers the ``wit`` provider, in the desktop and under qgis_process."""

from qgis.core import QgsApplication


class WitDispatcherPlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None

    def initProcessing(self) -> None:
        """Called by qgis_process (no iface there) and by initGui in the desktop."""
        from .wit_provider.provider import WitProvider

        if self.provider is None:
            self.provider = WitProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:
        self.initProcessing()

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
