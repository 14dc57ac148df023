"""What the installed plugin consists of, and how to copy or zip it (no tests, no dev files)."""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_NAME = "wit_dispatcher"
PLUGIN_PATHS = ("metadata.txt", "__init__.py", "plugin.py", "LICENSE", "wit_provider", "algorithms", "resources")


def plugin_files() -> list[Path]:
    """Every file of the plugin, relative to the repository root."""
    files = []
    for name in PLUGIN_PATHS:
        path = ROOT / name
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        files += [p.relative_to(ROOT) for p in candidates
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    return files


def install(plugins_dir: Path) -> Path:
    """Copy the plugin into a QGIS profile's ``python/plugins`` folder, replacing an older copy."""
    target = Path(plugins_dir) / PLUGIN_NAME
    if target.exists():
        shutil.rmtree(target)
    for relative in plugin_files():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target / relative)
    return target


def build_zip(path: Path) -> Path:
    """An installable plugin zip: one top folder named after the plugin."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in plugin_files():
            archive.write(ROOT / relative, "%s/%s" % (PLUGIN_NAME, relative.as_posix()))
    return path


if __name__ == "__main__":
    command, destination = sys.argv[1], Path(sys.argv[2])
    print((install if command == "install" else build_zip)(destination))
