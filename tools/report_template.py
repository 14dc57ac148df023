"""`python -m tools.report_template`: write the plugin's report template, resources/wit_report.qpt,
from ``algorithms.report_layout.default_layout`` (run it after changing that layout)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    parent = Path(tempfile.mkdtemp(prefix="wit-pkg-"))  # the checkout under the plugin's installed name
    (parent / "wit_dispatcher").symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(parent))
    from qgis.core import QgsApplication, QgsProject, QgsReadWriteContext

    application = QgsApplication([], False)
    application.initQgis()
    from wit_dispatcher.algorithms.report_layout import TEMPLATE, default_layout

    layout = default_layout(QgsProject.instance())
    if not layout.saveAsTemplate(str(TEMPLATE), QgsReadWriteContext()):
        sys.exit("could not write %s" % TEMPLATE)
    print("wrote resources/%s" % TEMPLATE.name)
    application.exitQgis()


if __name__ == "__main__":
    main()
