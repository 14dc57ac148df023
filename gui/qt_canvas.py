"""matplotlib's Qt canvas and navigation toolbar on the Qt that QGIS runs (Qt 5 or Qt 6).

matplotlib's qtagg backend (3.5 and later) uses the Qt binding already imported, and inside
QGIS that is always the one ``qgis.PyQt`` wraps: PyQt5 on QGIS 3, PyQt6 on QGIS 4.
"""

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg as FigureCanvas
from matplotlib.backends.backend_qtagg import NavigationToolbar2QT as NavigationToolbar

__all__ = ["FigureCanvas", "NavigationToolbar"]
