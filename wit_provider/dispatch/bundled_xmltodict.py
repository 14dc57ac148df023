"""xmltodict, from the Python installation or else the copy bundled in the plugin zip.

QGIS on Windows and macOS ships requests but not xmltodict. An installed copy always
wins; the bundled one is loaded under a private name, so it never shadows another.
"""

import importlib.util
from pathlib import Path

try:
    import xmltodict
except ImportError:
    _BUNDLED = Path(__file__).resolve().parents[2] / "ext_libs" / "xmltodict.py"
    _spec = importlib.util.spec_from_file_location("wit_dispatcher_xmltodict", _BUNDLED)
    xmltodict = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(xmltodict)

__all__ = ["xmltodict"]
