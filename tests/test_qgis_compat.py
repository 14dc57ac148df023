"""algorithms/qgis_compat.py gives spellings this QGIS (3.22 here) takes, for fields and Processing enums."""

from conftest import EXPECTED_READER
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



# Which branch each QGIS takes; a test-matrix root names itself in WIT_MATRIX (tools/matrix.py).
MATRIX_QGIS = {"trixie": "3.40", "sid": "3.44"}


def test_this_qgis_took_the_branches_its_version_calls_for(qgis_app):
    """A run in a root that quietly fell back (older QGIS, no Parquet driver) fails here."""
    import os

    from qgis.core import Qgis
    from wit_dispatcher.algorithms import qgis_compat
    from wit_dispatcher.wit_provider.results.table import reader_name

    matrix = os.environ.get("WIT_MATRIX")
    version = tuple(int(part) for part in Qgis.QGIS_VERSION.split("-")[0].split(".")[:2])
    if matrix:
        assert "%d.%d" % version == MATRIX_QGIS[matrix]
    assert qgis_compat.PROCESSING_ENUMS_IN_QGIS == (version >= (3, 36))
    assert qgis_compat.FIELDS_TAKE_QMETATYPE == (version >= (3, 38))
    assert reader_name() == EXPECTED_READER
