"""The plugin, from `make package`'s zip or install(), runs in a fresh profile where Python has no xmltodict."""

import importlib.util
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from test_qgis_process import read_gpkg

from tools.plugin_files import ROOT, install, version
from tools.qgis import prepare_profile, qgis_process_command

BLOCKER = '''
import pathlib, os
pathlib.Path(os.environ["WIT_BLOCKER_MARK"]).write_text("xmltodict import was refused")
raise ImportError("xmltodict is hidden for this test")
'''


def test_zip_holds_the_plugin_and_its_bundled_licence_only(plugin_zip):
    names = zipfile.ZipFile(plugin_zip).namelist()
    assert all(name.startswith("wit_dispatcher/") for name in names)
    assert {"wit_dispatcher/metadata.txt", "wit_dispatcher/LICENSE", "wit_dispatcher/ext_libs/xmltodict.py",
            "wit_dispatcher/ext_libs/LICENSE-xmltodict"} <= set(names)
    assert not [n for n in names if re.search(r"/(tests|tools|bench|build|\.ci)/|__pycache__|Makefile", n)]
    metadata = zipfile.ZipFile(plugin_zip).read("wit_dispatcher/metadata.txt")
    assert metadata == (ROOT / "metadata.txt").read_bytes()  # what a linked checkout is loaded from
    assert "version=%s\n" % version() in metadata.decode()
    assert {"supportsQt6=True", "qgisMinimumVersion=3.22", "qgisMaximumVersion=4.99"} <= set(
        metadata.decode().splitlines())  # QGIS 4 installs only plugins that declare Qt 6 support


def hide_xmltodict(env: dict, tmp_path: Path) -> tuple[dict, Path]:
    """``env`` whose Python finds an xmltodict that refuses to import; and the file it writes when tried."""
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "xmltodict.py").write_text(BLOCKER)
    mark = tmp_path / "blocked"
    return dict(env, PYTHONPATH=str(hidden), WIT_BLOCKER_MARK=str(mark)), mark


def assert_dispatches_without_xmltodict(env: dict, server, canberra_zip: Path, tmp_path: Path) -> None:
    """qgis_process in the profile of ``env`` dispatches the Canberra sample with xmltodict out of reach."""
    env, mark = hide_xmltodict(env, tmp_path)
    output = tmp_path / "out.gpkg"
    run = subprocess.run(qgis_process_command() + [
        "run", "wit:dispatchwit", "--", "INPUT=%s" % canberra_zip, "WPS_URL=%s" % server.wps_url,
        "MAX_CONCURRENT=8", "OUTPUT=%s" % output], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert mark.exists()  # the installed xmltodict really was out of reach
    assert {row[2] for row in read_gpkg(output)} == {"succeeded"} and len(read_gpkg(output)) == 86


@pytest.mark.slow
def test_installs_from_the_zip_and_runs_without_xmltodict(profile_from_zip, fresh_server, canberra_zip, tmp_path):
    assert_dispatches_without_xmltodict(profile_from_zip, fresh_server(job_seconds=0.05), canberra_zip, tmp_path)


@pytest.mark.slow
def test_installs_like_make_deploy_and_runs_without_xmltodict(fresh_server, canberra_zip, tmp_path):
    env = prepare_profile(tmp_path / "config")  # install(), as `make deploy` does
    assert_dispatches_without_xmltodict(env, fresh_server(job_seconds=0.05), canberra_zip, tmp_path)


PROBE = ("from wit_dispatcher.wit_provider.dispatch.bundled_xmltodict import xmltodict; "
         "print(xmltodict.__name__, xmltodict.__file__)")


@pytest.fixture
def installed_plugins(tmp_path) -> Path:
    """A plugins folder holding the plugin as install() writes it, bundled xmltodict included."""
    plugins = tmp_path / "plugins"
    assert (install(plugins) / "ext_libs" / "xmltodict.py").is_file()
    return plugins


def xmltodict_used(plugins: Path, env: dict) -> tuple[str, Path]:
    """The name and file of the xmltodict the installed plugin picks, in a fresh Python."""
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=plugins, env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    name, path = run.stdout.split()
    return name, Path(path).resolve()


def plain_env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_an_installed_xmltodict_wins_over_the_bundled_copy(installed_plugins):
    installed = Path(importlib.util.find_spec("xmltodict").origin).resolve()
    assert xmltodict_used(installed_plugins, plain_env()) == ("xmltodict", installed)


def test_without_an_installed_xmltodict_the_bundled_one_loads_under_a_private_name(installed_plugins, tmp_path):
    env, mark = hide_xmltodict(plain_env(), tmp_path)
    bundled = (installed_plugins / "wit_dispatcher" / "ext_libs" / "xmltodict.py").resolve()
    assert xmltodict_used(installed_plugins, env) == ("wit_dispatcher_xmltodict", bundled)
    assert mark.exists()  # the installed one was tried first, and refused
