"""Runs inside the real QGIS desktop (qgis.bin --code): reports whether the plugin loaded as a user's would.

The desktop's plugin loader reads metadata.txt and skips a plugin it finds incomplete, so
``active_plugins`` and the Processing registry say what a user of this profile gets.
Environment: WIT_DESKTOP_OUT (folder).
"""

import os
import sys

import qgis.utils
from harness import finish, later, report
from qgis.core import QgsApplication

PLUGIN = "wit_dispatcher"


def look():
    report["available"] = PLUGIN in qgis.utils.available_plugins
    report["active"] = PLUGIN in qgis.utils.active_plugins
    report["version"] = qgis.utils.pluginMetadata(PLUGIN, "version")
    module = sys.modules.get(PLUGIN)
    report["folder"] = os.path.realpath(os.path.dirname(module.__file__)) if module else None
    provider = QgsApplication.processingRegistry().providerById("wit")
    report["provider"] = provider.name() if provider else None
    report["algorithms"] = sorted(algorithm.id() for algorithm in provider.algorithms()) if provider else []
    finish()


later(2000, look)
