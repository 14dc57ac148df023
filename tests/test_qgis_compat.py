"""algorithms/qgis_compat.py gives spellings this QGIS (3.22 here) takes, for fields and Processing enums."""

from qgis.core import QgsProcessingParameterFeatureSource, QgsProcessingParameterNumber
from qgis.PyQt.QtCore import QMetaType


def test_the_compatibility_spellings_are_what_this_qgis_takes():
    from wit_dispatcher.algorithms import qgis_compat

    names = {kind: QMetaType.typeName(int(qgis_compat.field("f", kind).type())) for kind in qgis_compat.FIELD_KINDS}
    assert names == {"string": "QString", "int": "int", "double": "double", "bool": "bool", "date": "QDate",
                     "datetime": "QDateTime"}
    assert qgis_compat.field("f", "string", 16).length() == 16
    polygons = QgsProcessingParameterFeatureSource("IN", "in", [qgis_compat.VECTOR_POLYGON])
    assert polygons.dataTypes() == [qgis_compat.VECTOR_POLYGON] and polygons.checkValueIsAcceptable("x.gpkg")
    whole = QgsProcessingParameterNumber("N", "n", qgis_compat.INTEGER, 2)
    assert whole.dataType() == qgis_compat.INTEGER != qgis_compat.DOUBLE

