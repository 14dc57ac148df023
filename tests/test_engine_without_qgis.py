"""The engines (common/, dispatch/, results/: every module in them) need neither Qt nor QGIS: they import
in a Python where both are refused. tests/test_layout.py reads the same rule from the source."""

import os
import subprocess
import sys
import textwrap

from tools.plugin_files import ROOT, plugin_files

ENGINE = sorted(".".join(path.with_suffix("").parts[1:]) for path in plugin_files()  # every engine module
                for package in ("common", "dispatch", "results")
                if path.suffix == ".py" and path.parts[:2] == ("wit_provider", package) and path.stem != "__init__")
BLOCKED = ("qgis", "PyQt5", "PyQt6", "sip")
BLOCKING_IMPORT = textwrap.dedent('''\
    import importlib, sys

    class Refuse:
        """Any import of Qt or QGIS fails, as in a Python without them."""
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in %r:
                raise ImportError("blocked for this test: " + name)

    sys.meta_path.insert(0, Refuse())
    for name in sys.argv[1:]:
        importlib.import_module(name)
    print(sorted(m for m in sys.modules if m.split(".")[0] in %r))
    ''') % (BLOCKED, BLOCKED)


def test_the_engine_imports_without_qt_or_qgis(tmp_path):
    assert len(ENGINE) >= 22, ENGINE  # found by walking the packages: an empty list would check nothing
    (tmp_path / "wit_dispatcher").symlink_to(ROOT, target_is_directory=True)
    modules = ["wit_dispatcher.wit_provider.%s" % name for name in ENGINE]
    run = subprocess.run([sys.executable, "-c", BLOCKING_IMPORT] + modules, cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_the_import_block_is_real(tmp_path):
    """The same block refuses a module that does import QGIS: the test above could fail."""
    (tmp_path / "wit_dispatcher").symlink_to(ROOT, target_is_directory=True)
    run = subprocess.run([sys.executable, "-c", BLOCKING_IMPORT, "wit_dispatcher.wit_provider.qgis_bridge.geometry"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert run.returncode == 1 and "ImportError: blocked for this test: qgis" in run.stderr
