"""A clone linked into a profile's plugins folder loads in the real desktop exactly as the packaged zip does."""

import pytest
from desktop_session import run_driver

from tools.plugin_files import ROOT, version


@pytest.mark.slow
def test_a_linked_checkout_loads_in_the_desktop_like_the_zip(profile_linked, profile_from_zip, tmp_path):
    linked = run_driver("loaded_driver.py", profile_linked, tmp_path / "linked")
    assert linked["available"] and linked["active"], linked  # the desktop's loader accepted metadata.txt
    assert linked["folder"] == str(ROOT.resolve())  # the checkout itself, not a copy
    assert linked["version"] == version()
    assert linked["provider"] == "WIT Dispatcher"
    assert linked["algorithms"] == ["wit:dispatchwit", "wit:loadresults", "wit:report"]
    packaged = run_driver("loaded_driver.py", profile_from_zip, tmp_path / "zip")
    assert packaged.pop("folder") != linked.pop("folder")
    assert linked == packaged
