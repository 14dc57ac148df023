"""What both WIT algorithms share: their group, translation, the polygon-layer check, and
output layers that are the input's fields and geometry plus fields of their own."""

from __future__ import annotations

from collections.abc import Sequence

from qgis.core import QgsFeature, QgsFields, QgsProcessingAlgorithm, QgsProcessingException, QgsWkbTypes
from qgis.PyQt.QtCore import QCoreApplication

from .qgis_compat import field

DOCS_URL = "https://github.com/wit-dispatcher/wit_dispatcher/blob/main/docs/"  # metadata.txt's homepage, docs/


class WitAlgorithm(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    DOCS_PAGE = ""  # the algorithm's page in docs/, where its Help button leads

    def helpUrl(self) -> str:
        return DOCS_URL + self.DOCS_PAGE

    def tr(self, text: str) -> str:
        return QCoreApplication.translate(type(self).__name__, text)

    def createInstance(self) -> WitAlgorithm:
        return type(self)()

    def group(self) -> str:
        return self.tr("Wetlands Insight Tool")

    def groupId(self) -> str:
        return "wit"

    def polygon_source(self, parameters, context):
        """INPUT as a feature source, refused unless it holds polygons (qgis_process does not check)."""
        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.INPUT))
        if QgsWkbTypes.geometryType(source.wkbType()) != QgsWkbTypes.GeometryType.PolygonGeometry:
            raise QgsProcessingException(self.tr(
                "Input layer '{}' has {} geometries: {} needs a polygon layer.").format(
                source.sourceName(), QgsWkbTypes.displayString(source.wkbType()) or "no", self.displayName()))
        return source


def extended_fields(input_fields: QgsFields, added: list[tuple[str, str, int]]) -> QgsFields:
    """The input fields plus (name, kind, length) fields; one the input already has is reused."""
    fields = QgsFields(input_fields)
    for name, kind, length in added:
        if fields.lookupField(name) < 0:
            fields.append(field(name, kind, length))
    return fields


def table_fields(names) -> QgsFields:
    """QgsFields of (name, kind) or (name, kind, length), as qgis_compat.field takes them."""
    fields = QgsFields()
    for name, kind, *length in names:
        fields.append(field(name, kind, *length))
    return fields


class ExtendedFeatures:
    """Output features in ``fields``: an input feature's geometry and attributes, and values at the
    positions of ``names`` (an input field of that name is reused). The positions are found once:
    a lookup by name costs microseconds, per name and per feature, on the thread that writes."""

    def __init__(self, fields: QgsFields, names: Sequence[str]):
        self.fields = fields
        self._positions = [fields.lookupField(name) for name in names]
        missing = [name for name, position in zip(names, self._positions) if position < 0]
        if missing:
            raise ValueError("not in the output's fields: %s" % ", ".join(missing))
        self._count = fields.count()

    def feature(self, feature: QgsFeature, values: Sequence) -> QgsFeature:
        out = QgsFeature(self.fields)
        out.setGeometry(feature.geometry())
        attributes = feature.attributes()
        attributes += [None] * (self._count - len(attributes))
        for position, value in zip(self._positions, values):
            attributes[position] = value
        out.setAttributes(attributes)
        return out
