"""QGIS geometries to the lon/lat GeoJSON WIT reads, and the checks that decide what is sendable.

QGIS keeps x = longitude, y = latitude for EPSG:4326 whatever the CRS's official axis
order, so writing (x, y) after the transform is always (lon, lat).
"""

from __future__ import annotations

from typing import Callable

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCoordinateTransformContext,
    QgsCsException,
    QgsDistanceArea,
    QgsGeometry,
    QgsUnitTypes,
    QgsWkbTypes,
)

from ..dispatch.defaults import COORDINATE_DECIMALS

LONLAT = QgsCoordinateReferenceSystem("EPSG:4326")
DEFAULT_ELLIPSOID = "WGS84"


class UnusableGeometry(ValueError):
    """The feature's geometry cannot be sent; the message says why, for wit_error."""


def measurer(crs: QgsCoordinateReferenceSystem, context: QgsCoordinateTransformContext,
             ellipsoid: str = "") -> QgsDistanceArea:
    """Measures in ``crs`` on ``ellipsoid`` (the context's or project's), else the CRS's, else WGS84."""
    distance = QgsDistanceArea()
    distance.setSourceCrs(crs, context)
    if not ellipsoid or ellipsoid.upper() == "NONE":
        ellipsoid = crs.ellipsoidAcronym() or DEFAULT_ELLIPSOID
    if not distance.setEllipsoid(ellipsoid):
        distance.setEllipsoid(DEFAULT_ELLIPSOID)
    return distance


def ellipsoid_area(crs: QgsCoordinateReferenceSystem, context: QgsCoordinateTransformContext,
                   ellipsoid: str) -> Callable[[QgsGeometry], float | None]:
    """A function: geometry in ``crs`` → its area in hectares, measured as ``measurer`` does.

    Load WIT results scales wet shares to hectares with it and the explorer too: one measure for both."""
    distance = measurer(crs, context, ellipsoid)

    def area_ha(geometry: QgsGeometry) -> float | None:
        if geometry is None or geometry.isEmpty():
            return None
        return distance.convertAreaMeasurement(distance.measureArea(geometry), QgsUnitTypes.AreaUnit.AreaHectares)

    return area_ha


class LonLatEncoder:
    """Turns one layer's polygons into lon/lat GeoJSON geometry dicts and measures perimeters."""

    def __init__(self, source_crs: QgsCoordinateReferenceSystem, context: QgsCoordinateTransformContext,
                 ellipsoid: str = ""):
        self._transform = QgsCoordinateTransform(source_crs, LONLAT, context)
        self._distance = measurer(source_crs, context, ellipsoid)

    def area_km2(self, geometry: QgsGeometry) -> float:
        """Area on the ellipsoid, in km²: what WIT's cost grows with."""
        area = self._distance.measureArea(geometry)
        return self._distance.convertAreaMeasurement(area, QgsUnitTypes.AreaUnit.AreaSquareKilometers)

    def perimeter_m(self, geometry: QgsGeometry) -> float:
        """Length of every ring (outer and holes), in metres on the ellipsoid."""
        length = self._distance.measurePerimeter(geometry)
        return self._distance.convertLengthMeasurement(length, QgsUnitTypes.DistanceUnit.DistanceMeters)

    def geojson(self, geometry: QgsGeometry) -> str:
        """Compact GeoJSON text of a Polygon or MultiPolygon in lon/lat, Z and M dropped, holes kept.

        Transform and JSON writing both happen in QGIS's C++ code: no Python loop per vertex.
        """
        if geometry is None or geometry.isNull() or geometry.isEmpty():
            raise UnusableGeometry("the feature has no geometry")
        if geometry.type() != QgsWkbTypes.GeometryType.PolygonGeometry:
            kind = QgsWkbTypes.displayString(geometry.wkbType())
            raise UnusableGeometry("the geometry is a %s, not a polygon" % kind)
        lonlat = QgsGeometry(geometry)
        if QgsWkbTypes.isCurvedType(lonlat.wkbType()):
            lonlat.convertToStraightSegment()
        try:
            if lonlat.transform(self._transform) != Qgis.GeometryOperationResult.Success:
                raise UnusableGeometry("the geometry could not be transformed to longitude/latitude")
        except QgsCsException as error:
            raise UnusableGeometry("the geometry could not be transformed to longitude/latitude: %s"
                                   % (error.args[0] if error.args else error)) from None
        box = lonlat.boundingBox()
        if not (-360 <= box.xMinimum() <= box.xMaximum() <= 360 and -90 <= box.yMinimum() <= box.yMaximum() <= 90):
            raise UnusableGeometry("the geometry has coordinates outside longitude/latitude (%s)"
                                   % box.toString(4))
        flat = lonlat.get()
        flat.dropZValue()
        flat.dropMValue()
        return lonlat.asJson(COORDINATE_DECIMALS)
