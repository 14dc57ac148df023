"""Preparation: read + reproject + encode polygons of a zipped EPSG:3577 shapefile.

Ours (QGIS transform and C++ GeoJSON writer, then the Execute document) against the
original notebook's path (fiona + ``fiona.transform.transform_geom`` + json.dumps +
a string template), on the same file in the same run.
"""

from __future__ import annotations

import json
import math
import time
import zipfile
from pathlib import Path

import numpy

from bench.common import CACHE, END, START

SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj")


def wetlands_zip(count: int, seed: int = 1) -> Path:
    """A zipped shapefile of ``count`` wetland-like polygons in EPSG:3577 (made once, then cached).

    20-400 vertices each, a wobbly outline around a random centre in eastern Australia,
    every fifth with a hole, and a ``Shape_Leng`` field like DEA's.
    """
    path = CACHE / ("wetlands_%d.zip" % count)
    if path.exists():
        return path
    import fiona

    CACHE.mkdir(parents=True, exist_ok=True)
    rng = numpy.random.default_rng(seed)
    folder = CACHE / ("wetlands_%d" % count)
    folder.mkdir(exist_ok=True)
    shp = folder / "wetlands.shp"
    schema = {"geometry": "Polygon", "properties": {"UID": "str:12", "Shape_Leng": "float"}}
    with fiona.open(shp, "w", driver="ESRI Shapefile", crs="EPSG:3577", schema=schema) as sink:
        for i in range(count):
            vertices = int(rng.integers(20, 401))
            centre = (rng.uniform(1.0e6, 2.0e6), rng.uniform(-4.2e6, -2.5e6))
            radius = rng.uniform(50, 2000)
            angles = numpy.linspace(0, 2 * math.pi, vertices, endpoint=False)
            wobble = radius * (1 + 0.2 * numpy.sin(angles * rng.integers(2, 7)))
            ring = numpy.column_stack((centre[0] + wobble * numpy.cos(angles), centre[1] + wobble * numpy.sin(angles)))
            rings = [numpy.vstack((ring, ring[:1])).round(2).tolist()]
            if i % 5 == 0:
                hole = numpy.column_stack((centre[0] + 0.3 * radius * numpy.cos(angles[::-4]),
                                           centre[1] + 0.3 * radius * numpy.sin(angles[::-4])))
                rings.append(numpy.vstack((hole, hole[:1])).round(2).tolist())
            length = float(sum(numpy.hypot(*numpy.diff(numpy.array(r), axis=0).T).sum() for r in rings))
            sink.write({"geometry": {"type": "Polygon", "coordinates": rings},
                        "properties": {"UID": "w%07d" % i, "Shape_Leng": length}})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for suffix in SHAPEFILE_PARTS:
            archive.write(shp.with_suffix(suffix), "wetlands" + suffix)
    return path


def ours(path: Path, limit: int) -> float:
    """Polygons per second through the plugin's own code path."""
    from qgis.core import QgsCoordinateTransformContext, QgsFeatureRequest, QgsVectorLayer
    from wit_dispatcher.wit_provider.dispatch.wps import build_execute, feature_collection
    from wit_dispatcher.wit_provider.qgis_bridge.geometry import LonLatEncoder

    began = time.perf_counter()
    layer = QgsVectorLayer(str(path), "wetlands", "ogr")
    encoder = LonLatEncoder(layer.crs(), QgsCoordinateTransformContext(), "")
    count = 0
    for feature in layer.getFeatures(QgsFeatureRequest().setLimit(limit)):
        build_execute("WIT", feature_collection(encoder.geojson(feature.geometry())), START, END)
        count += 1
    return count / (time.perf_counter() - began)


def notebook(path: Path, limit: int) -> float:
    """Polygons per second through the notebook's path: fiona, transform_geom, json.dumps, a template."""
    import fiona
    from fiona.model import to_dict
    from fiona.transform import transform_geom
    from wit_dispatcher.wit_provider.dispatch.wps import date_object

    from bench.peers import _NOTEBOOK_TEMPLATE

    began = time.perf_counter()
    count = 0
    with fiona.open("zip://%s!wetlands.shp" % path) as layer:
        for feature in layer:
            if count == limit:
                break
            geometry = to_dict(transform_geom(layer.crs, "EPSG:4326", feature.geometry))
            collection = json.dumps({"type": "FeatureCollection", "features": [
                {"type": "Feature", "geometry": geometry, "properties": {}}]})
            _NOTEBOOK_TEMPLATE % (collection, date_object(START), date_object(END))
            count += 1
    return count / (time.perf_counter() - began)
