"""tools/qt6_check.py (in `make lint`) finds Qt5-only code: none in the plugin, and it catches planted code."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tools.plugin_files import ROOT, plugin_files
from tools.qt6_check import PRAGMA, check_files, check_source

PLANTED = textwrap.dedent('''\
    from PyQt5.QtWidgets import QDialog
    from qgis.core import QgsWkbTypes
    from qgis.PyQt.QtCore import Qt, QVariant

    def show(dialog: QDialog, layer) -> None:
        dialog.exec_()
        if layer.geometryType() == QgsWkbTypes.PolygonGeometry:
            dialog.setAlignment(Qt.AlignLeft)
        kind = QVariant.String
    ''')
PORTED = textwrap.dedent('''\
    from qgis.core import QgsProcessing, QgsWkbTypes
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtWidgets import QDialog

    def show(dialog: QDialog, layer) -> str:
        dialog.exec()
        if layer.geometryType() == QgsWkbTypes.GeometryType.PolygonGeometry:
            dialog.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        return QgsProcessing.TEMPORARY_OUTPUT
    ''')

def test_the_plugin_has_no_qt5_only_code():
    assert [str(f) for f in check_files([ROOT / path for path in plugin_files()])] == []


def test_the_check_catches_planted_qt5_code():
    found = [(f.line, f.message.split(":")[0]) for f in check_source(PLANTED, "planted.py")]
    assert found == [(1, "import of PyQt5.QtWidgets"), (6, "exec_() is removed in PyQt6"),
                     (7, "unscoped enum QgsWkbTypes.PolygonGeometry"), (8, "unscoped enum Qt.AlignLeft"),
                     (9, "QVariant.String")]
    said = [f.message for f in check_source(PLANTED, "planted.py")]
    assert "PyQt6 needs QgsWkbTypes.GeometryType.PolygonGeometry" in said[2]
    assert "PyQt6 needs Qt.AlignmentFlag.AlignLeft" in said[3]


def test_the_check_passes_the_ported_spellings():
    assert check_source(PORTED, "ported.py") == []


def test_the_lint_command_fails_on_planted_code_and_names_it(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(PLANTED)
    run = subprocess.run([sys.executable, "-m", "tools.qt6_check", str(planted)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1
    assert "%s:6:" % planted in run.stdout and "exec_()" in run.stdout
    clean = subprocess.run([sys.executable, "-m", "tools.qt6_check"], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_qgis3_only_lines_are_confined_to_the_compatibility_module():
    marked = {path.as_posix() for path in plugin_files() if path.suffix == ".py"
              and PRAGMA in (ROOT / path).read_text(encoding="utf-8")}
    assert marked == {"algorithms/qgis_compat.py"}
