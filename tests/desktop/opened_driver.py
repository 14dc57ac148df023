"""Runs inside the real QGIS desktop (qgis.bin --code): adds GeoPackages written by a headless run
(qgis_process) from their files, as a user adds them from the Browser (the file's table), and reports
how each opens: renderer, named styles, map tip, temporal settings; then the results layer's Year
by year style with the Temporal Controller on one year, and each wetland's class as the canvas draws it
(ANNUAL with outlines, when given: which years the frame shows). (Given the file alone, QGIS 3.22
first asks which of its tables to add: its stored styles are a table too.)

Environment: WIT_DESKTOP_OUT (folder), WIT_FILES (paths joined by os.pathsep).
"""

import os
import sqlite3

from harness import OUT, finish, later, report, year_frame
from qgis.core import (
    QgsCoordinateTransform,
    QgsProject,
    QgsSettings,
)
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import QDockWidget
from qgis.utils import iface
from qgis_helpers import frame_classes

SHOWN_YEAR, NEXT_YEAR = 2011, 2012


def add_files():
    # A question QGIS asks of every EPSG:3577 layer on a map in lon/lat, not the plugin's: answered as its default.
    QgsSettings().setValue("/projections/promptWhenMultipleTransformsExist", False, QgsSettings.App)
    report["layers"] = {}
    for path in os.environ["WIT_FILES"].split(os.pathsep):
        with sqlite3.connect(path) as db:
            table = db.execute("SELECT table_name FROM gpkg_contents WHERE table_name != 'layer_styles'").fetchone()[0]
        layer = iface.addVectorLayer("%s|layername=%s" % (path, table), os.path.basename(path), "ogr")
        renderer, temporal = layer.renderer(), layer.temporalProperties()  # (a table has no renderer)
        report["layers"][os.path.basename(path)] = {
            "renderer": renderer and renderer.type(), "attribute": getattr(renderer, "classAttribute", lambda: "")(),
            "styles": sorted(layer.styleManager().styles()), "current": layer.styleManager().currentStyle(),
            "map_tip": bool(layer.mapTipTemplate()), "temporal": temporal.isActive(),
            "layer": layer.id()}
    later(500, year_by_year)


def year_by_year():
    """The results layer alone, in its Year by year style, the Temporal Controller on SHOWN_YEAR (and
    what ANNUAL's own temporal settings let the frame show, where it is a map layer)."""
    project = QgsProject.instance()
    results = project.mapLayer(report["layers"]["loaded.gpkg"]["layer"])
    for other in project.mapLayers().values():
        if other.isSpatial():
            project.layerTreeRoot().findLayer(other.id()).setItemVisibilityChecked(other is results)
    report["year_style"] = results.styleManager().setCurrentStyle("Year by year")
    report["year_temporal"] = results.temporalProperties().isActive()
    next(d for d in iface.mainWindow().findChildren(QDockWidget) if "Temporal" in d.windowTitle()).show()
    year_frame(results, SHOWN_YEAR)
    annual = project.mapLayer(report["layers"]["annual.gpkg"]["layer"])
    if annual.isSpatial():
        _, shown = year_frame(annual, SHOWN_YEAR)
        report["frame_years"] = sorted({f["year"] for f in annual.getFeatures(shown)})
    iface.setActiveLayer(results)
    iface.mapCanvas().setExtent(results.extent())
    iface.mapCanvas().refresh()
    later(2500, classes_drawn)


def classes_drawn():
    """Each wetland's class in the canvas's own map settings (its frame), and the legend's classes."""
    canvas = iface.mapCanvas()
    results = QgsProject.instance().mapLayer(report["layers"]["loaded.gpkg"]["layer"])
    frame = canvas.mapSettings().temporalRange()
    report["canvas_frame"] = [moment.toString(Qt.DateFormat.ISODate) for moment in (frame.begin(), frame.end())]
    report["classes"] = frame_classes(results, canvas.mapSettings())
    report["labels"] = [r.label() for r in sorted(results.renderer().ranges(), key=lambda r: r.lowerValue())]
    iface.mainWindow().grab().save(str(OUT / "opened_from_files.png"))
    drawn[SHOWN_YEAR] = canvas.grab().toImage()
    canvas.temporalController().setCurrentFrameNumber(NEXT_YEAR - 1987)  # the next frame, the same extent
    later(2500, next_frame_drawn)


def next_frame_drawn():
    """The canvas after one step of the Temporal Controller, nothing else changed: the largest
    wetland whose class differs between the two years, the colour its class fills with and the
    colour drawn at a point inside it, in each year."""
    canvas = iface.mapCanvas()
    results = QgsProject.instance().mapLayer(report["layers"]["loaded.gpkg"]["layer"])
    drawn[NEXT_YEAR] = canvas.grab().toImage()
    classes = {SHOWN_YEAR: report["classes"], NEXT_YEAR: frame_classes(results, canvas.mapSettings())}
    fills = {r.label(): r.symbol().color().name() for r in results.renderer().ranges()
             if r.symbol().symbolLayer(0).brushStyle() != Qt.BrushStyle.NoBrush}
    changed = [f for f in results.getFeatures() if classes[SHOWN_YEAR][f["wit_id"]] != classes[NEXT_YEAR][f["wit_id"]]
               and all(years[f["wit_id"]] in fills for years in classes.values())]
    wetland = max(changed, key=lambda f: f.geometry().area())
    inside = QgsCoordinateTransform(results.crs(), canvas.mapSettings().destinationCrs(), QgsProject.instance()
                                    ).transform(wetland.geometry().pointOnSurface().asPoint())
    pixel = canvas.getCoordinateTransform().transform(inside)
    report["step"] = {str(year): {"fill": fills[classes[year][wetland["wit_id"]]],
                                  "drawn": QColor(drawn[year].pixel(round(pixel.x()), round(pixel.y()))).name()}
                      for year in (SHOWN_YEAR, NEXT_YEAR)}
    finish()


drawn = {}  # year → the canvas as drawn


later(2000, add_files)
