"""Lon/lat GeoJSON from QGIS geometries: axis order, holes, multiparts, Z/M, unusable shapes."""

import json

import pytest
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransformContext,
    QgsGeometry,
    QgsPointXY,
)
from wit_dispatcher.wit_provider.qgis_bridge.geometry import LonLatEncoder, UnusableGeometry

# Lake Burley Griffin, roughly: lon 149.1, lat -35.3.
LON, LAT = 149.1, -35.3


class Encoder(LonLatEncoder):
    def lonlat(self, geometry):
        text = self.geojson(geometry)
        assert "\n" not in text and " " not in text  # compact, one line
        return json.loads(text)


def encoder(authid):
    return Encoder(QgsCoordinateReferenceSystem(authid), QgsCoordinateTransformContext(), "")


def albers_square():
    """A 1 km square in EPSG:3577 around the lake, built from its lon/lat corner."""
    from qgis.core import QgsCoordinateTransform

    to_albers = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"),
                                       QgsCoordinateReferenceSystem("EPSG:3577"), QgsCoordinateTransformContext())
    corner = to_albers.transform(QgsPointXY(LON, LAT))
    x, y = corner.x(), corner.y()
    return QgsGeometry.fromWkt("POLYGON((%f %f, %f %f, %f %f, %f %f, %f %f))" % (
        x, y, x + 1000, y, x + 1000, y + 1000, x, y + 1000, x, y))


def test_albers_is_written_longitude_first(qgis_app):
    geojson = encoder("EPSG:3577").lonlat(albers_square())
    first = geojson["coordinates"][0][0]
    assert first == pytest.approx([LON, LAT], abs=1e-7)
    assert geojson["type"] == "Polygon"


@pytest.mark.parametrize("authid", ["EPSG:4326", "EPSG:4283"])
def test_geographic_sources_are_longitude_first(qgis_app, authid):
    geometry = QgsGeometry.fromWkt("POLYGON((%s %s, 149.2 -35.3, 149.2 -35.2, %s %s))" % (LON, LAT, LON, LAT))
    first = encoder(authid).lonlat(geometry)["coordinates"][0][0]
    assert first == pytest.approx([LON, LAT], abs=1e-6)


def test_multipolygon_with_holes_and_z_m_dropped(qgis_app):
    wkt = ("MULTIPOLYGON ZM(((149 -35 5 1, 149.1 -35 5 1, 149.1 -35.1 5 1, 149 -35 5 1),"
           "(149.05 -35.02 5 1, 149.06 -35.02 5 1, 149.06 -35.03 5 1, 149.05 -35.02 5 1)),"
           "((150 -36 5 1, 150.1 -36 5 1, 150.1 -36.1 5 1, 150 -36 5 1)))")
    geojson = encoder("EPSG:4326").lonlat(QgsGeometry.fromWkt(wkt))
    assert geojson["type"] == "MultiPolygon"
    assert [len(polygon) for polygon in geojson["coordinates"]] == [2, 1]
    assert geojson["coordinates"][0][1][0] == [149.05, -35.02]
    assert all(len(point) == 2 for polygon in geojson["coordinates"] for ring in polygon for point in ring)


def test_coordinates_keep_centimetres(qgis_app):
    geometry = QgsGeometry.fromWkt("POLYGON((149.123456789 -35.1, 149.2 -35.1, 149.2 -35.2, 149.123456789 -35.1))")
    x = encoder("EPSG:4326").lonlat(geometry)["coordinates"][0][0][0]
    assert x == 149.1234568  # 7 decimals: 1e-7 degree is about 1 cm


def test_curved_polygons_are_segmentised(qgis_app):
    geometry = QgsGeometry.fromWkt("CURVEPOLYGON(CIRCULARSTRING(149 -35, 149.1 -35.1, 149 -35))")
    ring = encoder("EPSG:4326").lonlat(geometry)["coordinates"][0]
    assert len(ring) > 10 and ring[0] == ring[-1]


@pytest.mark.parametrize("geometry, reason", [
    (QgsGeometry(), "no geometry"),
    (QgsGeometry.fromWkt("POLYGON EMPTY"), "no geometry"),
    (QgsGeometry.fromWkt("LINESTRING(149 -35, 149.1 -35.1)"), "not a polygon"),
    (QgsGeometry.fromWkt("POLYGON((10 95, 11 95, 11 96, 10 95))"), "outside longitude/latitude"),
])
def test_unusable_geometries(qgis_app, geometry, reason):
    with pytest.raises(UnusableGeometry, match=reason):
        encoder("EPSG:4326").lonlat(geometry)


def test_perimeter_is_measured_on_the_ellipsoid(qgis_app):
    metres = encoder("EPSG:3577").perimeter_m(albers_square())
    assert metres == pytest.approx(4000, rel=0.01)  # Albers is equal-area, lengths near true here
    degrees = encoder("EPSG:4326").perimeter_m(
        QgsGeometry.fromWkt("POLYGON((149 -35, 149.01 -35, 149.01 -35.01, 149 -35.01, 149 -35))"))
    assert degrees == pytest.approx(2 * (911 + 1109), rel=0.01)  # metres, not degrees


def test_area_is_measured_on_the_ellipsoid_in_square_kilometres(qgis_app):
    # Albers is equal-area: its 1 km square is 1 km² on the ellipsoid too
    assert encoder("EPSG:3577").area_km2(albers_square()) == pytest.approx(1.0, rel=0.01)
