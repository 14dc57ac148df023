"""One spelling for the few things QGIS 3.22 and QGIS 4 (Qt 6) spell differently.

QGIS 3.36 moved Processing's enums into ``Qgis``; QGIS 3.38 made QgsField take a
QMetaType type, and PyQt6 has no QVariant type constants. Everything else in the plugin
uses the scoped enum spellings both accept; only this module asks which QGIS it runs in.
Lines marked ``# qgis3-only`` never run on QGIS 4 (tools/qt6_check.py skips them).
"""

from __future__ import annotations

from qgis.core import (
    Qgis,
    QgsFeatureRequest,
    QgsField,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingFeatureSource,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
)
from qgis.PyQt.QtCore import QMetaType, QVariant

PROCESSING_ENUMS_IN_QGIS = hasattr(Qgis, "ProcessingSourceType")  # QGIS 3.36 and later
FIELDS_TAKE_QMETATYPE = Qgis.versionInt() >= 33800

if PROCESSING_ENUMS_IN_QGIS:
    VECTOR_POLYGON = Qgis.ProcessingSourceType.VectorPolygon
    VECTOR_ANY = Qgis.ProcessingSourceType.Vector
    INTEGER = Qgis.ProcessingNumberParameterType.Integer
    DOUBLE = Qgis.ProcessingNumberParameterType.Double
    STRING_FIELDS = Qgis.ProcessingFieldParameterDataType.String
    SKIP_GEOMETRY_CHECKS = Qgis.ProcessingFeatureSourceFlag.SkipGeometryValidityChecks
    ADVANCED = Qgis.ProcessingParameterFlag.Advanced
else:
    VECTOR_POLYGON = QgsProcessing.SourceType.TypeVectorPolygon
    VECTOR_ANY = QgsProcessing.SourceType.TypeVector
    INTEGER = QgsProcessingParameterNumber.Type.Integer
    DOUBLE = QgsProcessingParameterNumber.Type.Double
    STRING_FIELDS = QgsProcessingParameterField.DataType.String
    SKIP_GEOMETRY_CHECKS = QgsProcessingFeatureSource.Flag.FlagSkipGeometryValidityChecks
    ADVANCED = QgsProcessingParameterDefinition.Flag.FlagAdvanced
# Layouts belong to the main thread: QGIS's own layout exports run there too.
NO_THREADING = Qgis.ProcessingAlgorithmFlag.NoThreading if PROCESSING_ENUMS_IN_QGIS else \
    QgsProcessingAlgorithm.Flag.FlagNoThreading  # qgis3-only
# QGIS 3.36 moved QgsFeatureRequest's flags into Qgis as well; QGIS 4 keeps only that spelling.
NO_GEOMETRY = Qgis.FeatureRequestFlag.NoGeometry if hasattr(Qgis, "FeatureRequestFlag") else \
    QgsFeatureRequest.Flag.NoGeometry  # qgis3-only

if FIELDS_TAKE_QMETATYPE:
    _FIELD_TYPES = {"string": QMetaType.Type.QString, "int": QMetaType.Type.Int, "double": QMetaType.Type.Double,
                    "bool": QMetaType.Type.Bool, "date": QMetaType.Type.QDate, "datetime": QMetaType.Type.QDateTime}
else:
    _FIELD_TYPES = {"string": QVariant.Type.String, "int": QVariant.Type.Int,  # qgis3-only
                    "double": QVariant.Type.Double, "bool": QVariant.Type.Bool,  # qgis3-only
                    "date": QVariant.Type.Date, "datetime": QVariant.Type.DateTime}  # qgis3-only

FIELD_KINDS = tuple(_FIELD_TYPES)


def field(name: str, kind: str, length: int = 0) -> QgsField:
    """A QgsField of ``kind``, one of FIELD_KINDS (``length`` 0: no limit)."""
    return QgsField(name, _FIELD_TYPES[kind], len=length)


def advanced(parameter: QgsProcessingParameterDefinition) -> QgsProcessingParameterDefinition:
    """``parameter``, shown under the dialog's collapsed *Advanced parameters* (and hidden in batch
    until *Show advanced parameters*); qgis_process, scripts and batch values are unaffected."""
    parameter.setFlags(parameter.flags() | ADVANCED)
    return parameter


def value_or_none(value):
    """A Python value, or None for QGIS's NULL (a null QVariant on QGIS 3, None on QGIS 4)."""
    return None if value is None or (isinstance(value, QVariant) and value.isNull()) else value


def set_label_format(label, text_format) -> None:
    """A layout label's font, size and colour: a QgsTextFormat from QGIS 3.24 on, font and colour before."""
    if hasattr(label, "setTextFormat"):
        label.setTextFormat(text_format)
        return
    font = text_format.font()
    font.setPointSizeF(text_format.size())
    label.setFont(font)  # qgis3-only
    label.setFontColor(text_format.color())  # qgis3-only
