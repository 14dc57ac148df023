"""The ``wit`` Processing provider."""

from pathlib import Path

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..algorithms.dispatch_wit import DispatchWitAlgorithm
from ..algorithms.load_results import LoadResultsAlgorithm
from ..algorithms.report import ReportAlgorithm

ICON = Path(__file__).parents[1] / "resources" / "icon.svg"


class WitProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "wit"

    def name(self) -> str:
        return "WIT Dispatcher"

    def longName(self) -> str:
        return "WIT Dispatcher (Digital Earth Australia Wetlands Insight Tool)"

    def icon(self) -> QIcon:
        return QIcon(str(ICON))

    def svgIconPath(self) -> str:
        return str(ICON)

    def loadAlgorithms(self) -> None:
        self.addAlgorithm(DispatchWitAlgorithm())
        self.addAlgorithm(LoadResultsAlgorithm())
        self.addAlgorithm(ReportAlgorithm())
