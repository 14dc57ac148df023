"""What the installed plugin consists of, and how to copy or zip it (no tests, no dev files)."""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_NAME = "wit_dispatcher"
PLUGIN_PATHS = ("metadata.txt", "__init__.py", "plugin.py", "LICENSE", "wit_provider", "algorithms", "gui", "resources")


def plugin_files() -> list[Path]:
    """Every file of the plugin, relative to the repository root."""
    files = []
    for name in PLUGIN_PATHS:
        path = ROOT / name
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        files += [p.relative_to(ROOT) for p in candidates
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    return files


def changelog() -> list[tuple[str, list[str]]]:
    """(version, entries) from CHANGELOG.md, newest first: the source metadata.txt repeats."""
    releases = []
    for line in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            releases.append((line[3:].strip(), []))
        elif line.startswith("- ") and releases:
            releases[-1][1].append(line[2:].strip())
    return releases


def version() -> str:
    return changelog()[0][0]


BUNDLED_WHEEL = "xmltodict-0.13.0-py2.py3-none-any.whl"  # the Makefile's wheel rule downloads it into build/wheels


def bundled_files() -> list[tuple[str, bytes]]:
    """Libraries QGIS on Windows and macOS lacks, with their licences, as (path in plugin, content)."""
    wheel = ROOT / "build" / "wheels" / BUNDLED_WHEEL
    if not wheel.exists():
        raise FileNotFoundError("%s is missing: `make deploy`, `make package` and `make test` fetch it" % wheel)
    with zipfile.ZipFile(wheel) as archive:
        return [("ext_libs/xmltodict.py", archive.read("xmltodict.py")),
                ("ext_libs/LICENSE-xmltodict", archive.read("xmltodict-0.13.0.dist-info/LICENSE"))]


def install(plugins_dir: Path) -> Path:
    """Copy the plugin into a QGIS profile's ``python/plugins`` folder, replacing an older copy."""
    target = Path(plugins_dir) / PLUGIN_NAME
    if target.exists():
        shutil.rmtree(target)
    for relative in plugin_files():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target / relative)
    for name, content in bundled_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(content)
    return target


def build_zip(path: Path) -> Path:
    """An installable plugin zip: one top folder named after the plugin."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in plugin_files():
            archive.write(ROOT / relative, "%s/%s" % (PLUGIN_NAME, relative.as_posix()))
        for name, content in bundled_files():
            archive.writestr("%s/%s" % (PLUGIN_NAME, name), content)
    return path


def lay_ext_libs() -> Path:
    """The bundled libraries in the checkout's own (git-ignored) ext_libs/, so a linked checkout finds
    them as the zip does on a QGIS without them (Debian 13's and sid's have no python3-xmltodict)."""
    folder = ROOT / "ext_libs"
    folder.mkdir(exist_ok=True)
    for name, content in bundled_files():
        (ROOT / name).write_bytes(content)
    return folder


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "version":
        print(version())
    elif command == "ext-libs":
        print(lay_ext_libs())
    else:
        print((install if command == "install" else build_zip)(Path(sys.argv[2])))
