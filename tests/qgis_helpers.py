"""Helpers for tests that run the algorithm inside QGIS."""

from __future__ import annotations

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsExpressionContextUtils,
    QgsProcessingFeedback,
    QgsProject,
    QgsRenderContext,
    QgsVectorLayer,
)


class RecordingFeedback(QgsProcessingFeedback):
    """Keeps every message so tests can read what a user would see."""

    def __init__(self, cancel_when=None):
        super().__init__()
        self.infos: list[str] = []
        self.errors: list[str] = []
        self.cancel_when = cancel_when

    def pushInfo(self, info):
        self.infos.append(info)
        if self.cancel_when and self.cancel_when(info):
            self.cancel()
        super().pushInfo(info)

    def reportError(self, error, fatalError=False):
        self.errors.append(error)
        super().reportError(error, fatalError)


def lonlat_rings(layer: QgsVectorLayer, feature) -> list:
    """The feature's rings in lon/lat, computed here independently of the plugin's encoder."""
    transform = QgsCoordinateTransform(layer.crs(), QgsCoordinateReferenceSystem("EPSG:4326"),
                                       QgsProject.instance())
    geometry = feature.geometry()
    polygons = geometry.asMultiPolygon() if geometry.isMultipart() else [geometry.asPolygon()]
    return [[[(p.x(), p.y()) for p in (transform.transform(q) for q in ring)] for ring in polygon]
            for polygon in polygons]


def received_rings(geometry: dict) -> list:
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    return [[[tuple(point) for point in ring] for ring in polygon] for polygon in polygons]


def same_rings(a: list, b: list, tolerance: float = 1e-6) -> bool:
    flat_a = [p for polygon in a for ring in polygon for p in ring]
    flat_b = [p for polygon in b for ring in polygon for p in ring]
    return len(flat_a) == len(flat_b) and all(
        abs(x1 - x2) <= tolerance and abs(y1 - y2) <= tolerance for (x1, y1), (x2, y2) in zip(flat_a, flat_b))

# A GeoPackage output's own table: gpkg_contents also lists layer_styles, the styles stored beside it.
DATA_TABLE = "SELECT table_name FROM gpkg_contents WHERE table_name != 'layer_styles'"


def frame_classes(layer: QgsVectorLayer, settings, key: str = "wit_id") -> dict:
    """Each feature's class (its legend label) as ``layer``'s renderer draws it on a map with
    ``settings`` (the canvas's, or one given a temporal range as the Temporal Controller gives it)."""
    context = QgsRenderContext.fromMapSettings(settings)
    expressions = context.expressionContext()
    expressions.appendScope(QgsExpressionContextUtils.mapSettingsScope(settings))  # @map_start_time…
    expressions.appendScope(QgsExpressionContextUtils.layerScope(layer))
    renderer = layer.renderer().clone()
    labels = {item.ruleKey(): item.label() for item in renderer.legendSymbolItems()}
    renderer.startRender(context, layer.fields())
    try:
        classes = {}
        for feature in layer.getFeatures():
            expressions.setFeature(feature)
            keys = renderer.legendKeysForFeature(feature, context)
            classes[feature[key]] = labels[next(iter(keys))] if keys else None
        return classes
    finally:
        renderer.stopRender(context)
