"""metadata.txt, as it stands in the repository, is what QGIS reads: complete and in step with CHANGELOG.md.

CHANGELOG.md is the source of the version and the release notes; metadata.txt repeats them
by hand (a linked checkout is loaded from it as it is), and these tests catch a slip.
"""

from __future__ import annotations

import configparser

from tools.plugin_files import ROOT, changelog

# plugins.qgis.org refuses a plugin without these; the desktop skips one without name, description or version.
REQUIRED = ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email", "repository")


def read_metadata(text: str) -> dict:
    """Every value as QGIS reads it (qgis.utils: a default ConfigParser, values fetched with get())."""
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return {key: parser.get("general", key) for key in parser.options("general")}


def changelog_field(releases: list[tuple[str, list[str]]]) -> str:
    """The changelog= value CHANGELOG.md stands for: each version, then its entries as '- ' lines."""
    return "\n".join("\n".join([release] + ["- " + entry for entry in entries]) for release, entries in releases)


def disagreements(metadata: dict, releases: list[tuple[str, list[str]]]) -> list[str]:
    """How metadata.txt differs from CHANGELOG.md, in words a developer can act on."""
    found = []
    if metadata.get("version") != releases[0][0]:
        found.append("version=%s, but CHANGELOG.md's newest release is %s" % (metadata.get("version"), releases[0][0]))
    expected = changelog_field(releases)
    if metadata.get("changelog", "").strip() != expected:
        found.append("changelog= differs from CHANGELOG.md; it should read:\nchangelog=\n    "
                     + expected.replace("\n", "\n    "))
    return found


def repository_metadata() -> dict:
    return read_metadata((ROOT / "metadata.txt").read_text(encoding="utf-8"))


def test_metadata_has_every_key_qgis_requires():
    metadata = repository_metadata()
    assert [key for key in REQUIRED if not metadata.get(key.lower(), "").strip()] == []
    assert metadata["hasprocessingprovider"] == "yes"


def test_metadata_declares_qgis_3_22_to_4():
    """QGIS 4 and the plugin repository offer a plugin to Qt 6 builds only with supportsQt6=True."""
    metadata = repository_metadata()
    assert (metadata["qgisminimumversion"], metadata["qgismaximumversion"], metadata["supportsqt6"]) == (
        "3.22", "4.99", "True")


def test_metadata_version_and_changelog_repeat_changelog_md():
    assert disagreements(repository_metadata(), changelog()) == []


def test_a_metadata_out_of_step_with_the_changelog_is_caught():
    releases = changelog()
    ahead = [("9.9.9", ["Something new."])] + releases
    metadata = repository_metadata()
    assert len(disagreements(metadata, ahead)) == 2  # a release added to CHANGELOG.md only
    reworded = [(releases[0][0], releases[0][1][:-1] + ["Reworded."])] + releases[1:]
    assert [line.split(";")[0] for line in disagreements(metadata, reworded)] == [
        "changelog= differs from CHANGELOG.md"]
