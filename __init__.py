"""WIT Dispatcher QGIS plugin: send polygons to DEA's Wetlands Insight Tool WPS."""


def classFactory(iface):
    """QGIS entry point; imports QGIS only when QGIS loads the plugin."""
    from .plugin import WitDispatcherPlugin

    return WitDispatcherPlugin(iface)
