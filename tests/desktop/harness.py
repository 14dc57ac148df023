"""What every desktop driver shares: its report, the way it leaves, and guarded steps.

Drivers run inside qgis.bin (``--code``); tests/desktop_session.py puts this folder on
PYTHONPATH so they can import it.
"""

import json
import os
import traceback
from pathlib import Path

from qgis.PyQt.QtCore import QTimer

OUT = Path(os.environ["WIT_DESKTOP_OUT"])
report: dict = {}


def finish() -> None:
    """Write the report and leave at once: a normal exit would ask whether to save the project."""
    (OUT / "report.json").write_text(json.dumps(report, indent=1))
    os._exit(0)


def guarded(step):
    """``step`` that reports its traceback and leaves instead of leaving QGIS running."""
    def run():
        try:
            step()
        except Exception:
            report["error"] = traceback.format_exc()
            finish()
    return run


def later(milliseconds: int, step) -> None:
    """Run ``step`` (guarded) once the event loop has turned for ``milliseconds``."""
    QTimer.singleShot(milliseconds, guarded(step))


def year_frame(layer, year: int):
    """The Temporal Controller as a user sets it (the record's years, one-year frames) on ``year``:
    that frame and the request for what ``layer``'s temporal settings show in it."""
    from qgis.core import (
        QgsDateTimeRange,
        QgsFeatureRequest,
        QgsInterval,
        QgsTemporalNavigationObject,
        QgsUnitTypes,
        QgsVectorLayerTemporalContext,
    )
    from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QTime
    from qgis.utils import iface

    def utc(first_of):
        return QDateTime(QDate(first_of, 1, 1), QTime(0, 0), Qt.TimeSpec.UTC)

    navigation = iface.mapCanvas().temporalController()
    navigation.setNavigationMode(QgsTemporalNavigationObject.NavigationMode.Animated)
    navigation.setTemporalExtents(QgsDateTimeRange(utc(1987), utc(2021)))
    navigation.setFrameDuration(QgsInterval(1, QgsUnitTypes.TemporalUnit.TemporalYears))
    navigation.setCurrentFrameNumber(year - 1987)
    frame = navigation.dateTimeRangeForFrameNumber(navigation.currentFrameNumber())
    context = QgsVectorLayerTemporalContext()
    context.setLayer(layer)
    return frame, QgsFeatureRequest().setFilterExpression(layer.temporalProperties().createFilterString(context, frame))
