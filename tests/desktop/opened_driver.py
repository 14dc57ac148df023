"""Runs inside the real QGIS desktop (qgis.bin --code): adds GeoPackages written by a headless run
(qgis_process) from their files, as a user adds them from the Browser (the file's table), and reports
how each opens: renderer, named styles, map tip, temporal settings, and which years the Temporal
Controller's frame shows. (Given the file alone, QGIS 3.22 first asks which of its tables to add:
its stored styles are a table too.)

Environment: WIT_DESKTOP_OUT (folder), WIT_FILES (paths joined by os.pathsep).
"""

import os
import sqlite3

from harness import OUT, finish, later, report, year_frame
from qgis.core import (
    QgsProject,
    QgsSettings,
)
from qgis.utils import iface

SHOWN_YEAR = 2011


def add_files():
    # A question QGIS asks of every EPSG:3577 layer on a map in lon/lat, not the plugin's: answered as its default.
    QgsSettings().setValue("/projections/promptWhenMultipleTransformsExist", False, QgsSettings.App)
    report["layers"] = {}
    for path in os.environ["WIT_FILES"].split(os.pathsep):
        with sqlite3.connect(path) as db:
            table = db.execute("SELECT table_name FROM gpkg_contents WHERE table_name != 'layer_styles'").fetchone()[0]
        layer = iface.addVectorLayer("%s|layername=%s" % (path, table), os.path.basename(path), "ogr")
        renderer, temporal = layer.renderer(), layer.temporalProperties()
        report["layers"][os.path.basename(path)] = {
            "renderer": renderer.type(), "attribute": getattr(renderer, "classAttribute", lambda: "")(),
            "styles": sorted(layer.styleManager().styles()), "current": layer.styleManager().currentStyle(),
            "map_tip": bool(layer.mapTipTemplate()), "temporal": temporal.isActive(),
            "layer": layer.id()}
    later(500, step_annual)


def step_annual():
    """The Temporal Controller on one year: what ANNUAL's temporal settings let the frame show."""
    annual = QgsProject.instance().mapLayer(report["layers"]["annual.gpkg"]["layer"])
    _, shown = year_frame(annual, SHOWN_YEAR)
    report["frame_years"] = sorted({f["year"] for f in annual.getFeatures(shown)})
    iface.mapCanvas().setExtent(annual.extent())
    iface.mapCanvas().refresh()
    later(2500, shoot)


def shoot():
    iface.mainWindow().grab().save(str(OUT / "opened_from_files.png"))
    finish()


later(2000, add_files)
