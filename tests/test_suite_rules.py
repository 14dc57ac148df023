"""The suite fails, not skips, when something it needs is missing (tests/conftest.py)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent
SKIPPING = "import pytest\n\ndef test_needs_something():\n    pytest.skip('something is missing')\n"
SKIPPED_MODULE = "import pytest\n\npytest.importorskip('no_such_module_here')\n\ndef test_x():\n    pass\n"


def run_pytest(tmp_path: Path, source: str, **env: str) -> subprocess.CompletedProcess:
    """pytest on one test file with this suite's conftest as a plugin, in a process of its own."""
    (tmp_path / "test_sample.py").write_text(source)
    base = {k: v for k, v in os.environ.items() if k != "WIT_ALLOW_SKIPS"}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-q", "--rootdir", str(tmp_path),
                           str(tmp_path / "test_sample.py")],
                          cwd=tmp_path, env=dict(base, PYTHONPATH=str(TESTS), **env), capture_output=True,
                          text=True, timeout=120)


def test_a_skipped_test_fails_the_session_and_is_named(tmp_path):
    run = run_pytest(tmp_path, SKIPPING)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAILED because 1 test(s) skipped" in run.stdout
    assert "test_sample.py::test_needs_something" in run.stdout


def test_a_skipped_module_fails_the_session(tmp_path):
    run = run_pytest(tmp_path, SKIPPED_MODULE)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAILED because 1 test(s) skipped" in run.stdout


def test_skips_pass_only_when_the_developer_allows_them(tmp_path):
    run = run_pytest(tmp_path, SKIPPING, WIT_ALLOW_SKIPS="1")
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_missing_tool_stops_the_session_by_name(tmp_path):
    path = tmp_path / "bin"  # every required command but Xvfb
    path.mkdir()
    for command in ("qgis_process.bin", "qgis.bin", "openssl"):
        (path / command).symlink_to(shutil.which(command))
    run = run_pytest(tmp_path, "def test_x():\n    pass\n", PATH=str(path))
    assert run.returncode == 4, run.stdout + run.stderr
    said = run.stdout + run.stderr
    assert "missing on this machine: Xvfb (Debian package xvfb)" in said
    assert "openssl (" not in said and "qgis.bin (" not in said
