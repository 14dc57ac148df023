"""The zip from `make package` installs into a fresh profile and runs where Python has no xmltodict."""

import re
import subprocess
import zipfile
from pathlib import Path

from test_qgis_process import read_gpkg

from tools.plugin_files import version
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
    metadata = zipfile.ZipFile(plugin_zip).read("wit_dispatcher/metadata.txt").decode()
    assert "version=%s\n" % version() in metadata and "hasProcessingProvider=yes" in metadata


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


def test_installs_from_the_zip_and_runs_without_xmltodict(profile_from_zip, fresh_server, canberra_zip, tmp_path):
    assert_dispatches_without_xmltodict(profile_from_zip, fresh_server(job_seconds=0.05), canberra_zip, tmp_path)


def test_installs_like_make_deploy_and_runs_without_xmltodict(fresh_server, canberra_zip, tmp_path):
    env = prepare_profile(tmp_path / "config")  # install(), as `make deploy` does
    assert_dispatches_without_xmltodict(env, fresh_server(job_seconds=0.05), canberra_zip, tmp_path)


def test_an_installed_xmltodict_wins_over_the_bundled_copy():
    from wit_dispatcher.wit_provider.xml import xmltodict

    assert xmltodict.__name__ == "xmltodict"  # the bundled one would be wit_dispatcher_xmltodict
