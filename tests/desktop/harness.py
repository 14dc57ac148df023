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
