"""What both algorithms' dialogs show first, what they keep under Advanced parameters, and where
their Help button leads. The desktop test (test_desktop.py) shows the group collapsed."""

import pytest
from qgis.core import Qgis, QgsApplication, QgsProcessingParameterDefinition
from test_metadata import repository_metadata

from tools.plugin_files import ROOT

ADVANCED = {
    "wit:dispatchwit": {"WPS_URL", "PROCESS", "AUTHCFG", "TIMEOUT", "MAX_PERIMETER", "RETRY_FAILED", "JOURNAL",
                        "JOBS"},
    "wit:loadresults": {"S3_ENDPOINT", "AWS_PROFILE", "S3_UNSIGNED", "WET_THRESHOLD", "MAX_CONCURRENT",
                        "GROUP_FIELD", "SITE_COVER", "ANNUAL_OUTLINES"},
}
# QGIS 3.36 moved the flag into Qgis; the test spells both itself rather than asking the plugin.
ADVANCED_FLAG = (Qgis.ProcessingParameterFlag.Advanced if hasattr(Qgis, "ProcessingParameterFlag")
                 else QgsProcessingParameterDefinition.FlagAdvanced)


def algorithm(algorithm_id):
    found = QgsApplication.processingRegistry().createAlgorithmById(algorithm_id)
    assert found is not None, algorithm_id
    return found


@pytest.mark.parametrize("algorithm_id", sorted(ADVANCED))
def test_the_essentials_stay_in_view_and_the_rest_is_advanced(qgis_app, algorithm_id):
    found = algorithm(algorithm_id)  # kept: its definitions are deleted with it
    definitions = found.parameterDefinitions()
    advanced = {p.name() for p in definitions if p.flags() & ADVANCED_FLAG}
    assert advanced == ADVANCED[algorithm_id]
    assert "INPUT" in {p.name() for p in definitions} - advanced and "OUTPUT" not in advanced


@pytest.mark.parametrize("algorithm_id, page", [("wit:dispatchwit", "dispatching.md"),
                                                ("wit:loadresults", "results.md")])
def test_help_leads_to_the_algorithms_documentation_page(qgis_app, algorithm_id, page):
    homepage = repository_metadata()["homepage"].rstrip("/")
    assert algorithm(algorithm_id).helpUrl() == "%s/blob/main/docs/%s" % (homepage, page)
    assert (ROOT / "docs" / page).is_file()
