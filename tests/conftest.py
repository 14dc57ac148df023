"""Shared fixtures: the plugin as the package ``wit_dispatcher``, QGIS, and WIT servers on loopback."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"  # the sample data travels with the repository
CANBERRA_ZIP = DATA / "waterbodies_canberra.zip"
WIT_SAMPLE = DATA / "wit_sample.parquet"
RECORDED = Path(__file__).parent / "recorded"
# Screenshots the desktop tests keep; a matrix root's in a folder of its own (the roots run at once).
ARTIFACTS = ROOT / "test-artifacts" / os.environ.get("WIT_MATRIX", "")
# The parquet reader the plugin must take here: the test matrix's sid root has GDAL's Parquet driver
# (tools/matrix.py names the root in WIT_MATRIX), every other QGIS reads with pyarrow.
EXPECTED_READER = "gdal" if os.environ.get("WIT_MATRIX") == "sid" else "pyarrow"

# The repository is the plugin folder; import it under its installed name.
_PACKAGE_PARENT = Path(tempfile.mkdtemp(prefix="wit-pkg-"))
(_PACKAGE_PARENT / "wit_dispatcher").symlink_to(ROOT, target_is_directory=True)
sys.path.insert(0, str(_PACKAGE_PARENT))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# An isolated QGIS profile (settings, authentication database) for the test session.
os.environ["QGIS_CUSTOM_CONFIG_PATH"] = tempfile.mkdtemp(prefix="wit-qgis-config-")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp/runtime-%d" % os.getuid())

from wit_server import launch  # noqa: E402
from wit_server import s3 as s3_launch  # noqa: E402

# What the suite needs from the machine: `make test` installs all of it (Makefile DEBIAN_PACKAGES).
REQUIRED_COMMANDS = {
    "qgis_process (Debian package qgis)": ("qgis_process.bin", "qgis_process"),
    "qgis.bin (Debian package qgis)": ("qgis.bin",),
    "Xvfb (Debian package xvfb)": ("Xvfb",),
    "openssl (Debian package openssl)": ("openssl",),
    "pdfinfo, pdftotext and pdftoppm (Debian package poppler-utils)": ("pdftoppm",),
}
ALLOW_SKIPS = "WIT_ALLOW_SKIPS"  # =1: a quick local run where skips and missing tools do not fail
_skipped: list[str] = []


def skips_allowed() -> bool:
    return os.environ.get(ALLOW_SKIPS) == "1"


def missing_tools() -> list[str]:
    """The required tools this machine lacks, by name."""
    try:
        pyqgis = importlib.util.find_spec("qgis.core") is not None
    except ModuleNotFoundError:
        pyqgis = False
    missing = [] if pyqgis else ["PyQGIS (Debian package python3-qgis; use .venv/bin/python)"]
    return missing + [name for name, commands in REQUIRED_COMMANDS.items()
                      if not any(shutil.which(command) for command in commands)]


def pytest_sessionstart(session):
    """Stop before any test when a required tool is missing, naming it: a test must not pass without it."""
    missing = missing_tools()
    if missing and not skips_allowed():
        pytest.exit("missing on this machine: %s. `make test` installs them (or set %s=1 for a partial "
                    "local run)" % ("; ".join(missing), ALLOW_SKIPS), returncode=pytest.ExitCode.USAGE_ERROR)


# Faults come at random moments, so one pass of a fault test proves little: each runs this many
# times (`make test FAULT_RUNS=20` for a longer series), among the rest of the suite.
FAULT_RUNS = max(1, int(os.environ.get("WIT_FAULT_RUNS") or 1))


def pytest_generate_tests(metafunc):
    """Each test marked ``faults`` once per run 0 … FAULT_RUNS − 1 (its ``fault_run``)."""
    if metafunc.definition.get_closest_marker("faults") is not None:
        if "fault_run" not in metafunc.fixturenames:
            metafunc.fixturenames.append("fault_run")
        metafunc.parametrize("fault_run", range(FAULT_RUNS), indirect=True, ids=lambda run: "run%d" % run)


@pytest.fixture
def fault_run(request) -> int:
    """Which run of a fault test this is (0, 1, …): a seed for its faults."""
    return request.param


def pytest_collection_modifyitems(items):
    """The slow tests first (stable, so every xdist worker collects the same order): run last, one of
    them would keep its worker busy after the others are done."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


pytest_collectreport = pytest_runtest_logreport  # a whole module skipped (importorskip) counts too


def pytest_sessionfinish(session, exitstatus):
    """A skipped test is a promise not checked: it fails the session unless skips are allowed."""
    if _skipped and not skips_allowed() and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if _skipped and not skips_allowed():
        terminalreporter.write_line("FAILED because %d test(s) skipped (set %s=1 to allow skips): %s"
                                    % (len(_skipped), ALLOW_SKIPS, ", ".join(_skipped)), red=True, bold=True)
    missing = missing_tools() if skips_allowed() else []
    if missing:
        terminalreporter.write_line("%s=1: ran without %s" % (ALLOW_SKIPS, "; ".join(missing)), yellow=True)


@pytest.fixture(scope="session")
def qgis_app():
    """A headless QgsApplication with Processing and the plugin's provider registered."""
    from tools.qgis import processing_session

    app, plugin = processing_session()
    yield app
    plugin.unload()


@pytest.fixture(scope="session")
def wit_server(tmp_path_factory):
    """One server for tests that only read what it received; jobs take 0.2 s."""
    server = launch.start(tmp_path_factory.mktemp("wit-server"), job_seconds=0.2)
    yield server
    server.stop()


@pytest.fixture
def fresh_server(tmp_path):
    """A server of this test's own, for tests that change its behaviour or count its jobs."""
    servers = []

    def start(**options):
        server = launch.start(tmp_path / ("server%d" % len(servers)), **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def canberra_zip() -> Path:
    return CANBERRA_ZIP


@pytest.fixture(scope="session")
def plugin_zip(tmp_path_factory) -> Path:
    """The zip `make package` builds (its command, with this Python: in the test matrix's roots the
    checkout's .venv is the host's), as a user would install it. Each worker builds its own, in its
    temporary folder: parallel workers and the matrix's roots must not write one file at once."""
    import subprocess

    from tools.plugin_files import version

    path = tmp_path_factory.mktemp("dist") / ("wit_dispatcher-%s.zip" % version())
    run = subprocess.run([sys.executable, "-m", "tools.plugin_files", "zip", str(path)], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    return path


@pytest.fixture
def profile_from_zip(plugin_zip, tmp_path):
    """A fresh QGIS profile with the plugin installed from the zip and enabled; returns its environment."""
    import zipfile

    from tools.qgis import enable_plugin, plugins_folder

    config = tmp_path / "config"
    zipfile.ZipFile(plugin_zip).extractall(plugins_folder(config))  # what "Install from ZIP" does
    return enable_plugin(config)


@pytest.fixture
def profile_linked(tmp_path):
    """A fresh QGIS profile whose plugin is this checkout, linked as a contributor links it, and enabled."""
    from tools.qgis import enable_plugin, plugins_folder

    config = tmp_path / "linked-config"
    (plugins_folder(config) / "wit_dispatcher").symlink_to(ROOT, target_is_directory=True)
    return enable_plugin(config)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's S3 server on 127.0.0.1; credentials in the environment, where GDAL and boto3 look first."""
    os.environ.update(s3_launch.CREDENTIALS)
    server = s3_launch.start(tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pyarrow_wheel() -> Path:
    """pyarrow's wheel for QGIS's Python, downloaded once into build/wheels (for this Python and NumPy)."""
    from tools.demo_results import pyarrow_wheel as wheel

    return wheel()

