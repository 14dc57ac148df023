"""Find Qt5-only code in the plugin: what QGIS 4 (Qt 6, PyQt6) refuses, read-only.

An AST walk over the plugin's files (tools/plugin_files.py) for the constructs QGIS's own
scripts/pyqt5_to_pyqt6 migration script rewrites: unscoped enums of Qt and QGIS classes
(``Qt.UTC``, ``QgsWkbTypes.PolygonGeometry``), ``exec_()``, QVariant type constants, PyQt5 (or
any direct PyQt/sip) imports, compiled resources, ``qApp``, ``QRegExp`` and ``qgis.PyQt.Qt``.
Enums are recognised by resolving each dotted name against the installed QGIS bindings, so
only real enum members are reported (``QgsProcessing.TEMPORARY_OUTPUT`` is a string, not an
enum). A line ending in ``# qgis3-only`` is skipped: the QGIS 3 branch of the compatibility
module (algorithms/qgis_compat.py), never evaluated on QGIS 4.

Usage: python -m tools.qt6_check [paths...]   (default: the plugin's files); exit 1 on findings.
"""

from __future__ import annotations

import ast
import enum
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

from .plugin_files import ROOT, plugin_files

PRAGMA = "# qgis3-only"
DIRECT_QT_MODULES = ("PyQt5", "PyQt6", "sip", "PySide2", "PySide6")
COMPILED_RESOURCES = ("resources_rc", "resources")
REMOVED_NAMES = {"qApp": "qApp is removed in PyQt6: use QApplication.instance()",
                 "QRegExp": "QRegExp is removed in Qt 6: use QRegularExpression"}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return "%s:%d:%d: %s" % (self.path, self.line, self.column, self.message)


def _is_enum_type(value) -> bool:
    return isinstance(value, enum.EnumMeta) or type(value).__name__ == "enumtype"  # Python enum, or sip's


def _is_enum_member(value) -> bool:
    return isinstance(value, enum.Enum) or _is_enum_type(type(value))


def _bindings(tree: ast.AST) -> dict:
    """Names the file imports from qgis.* (Qt through qgis.PyQt included), bound to the real objects."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qgis":
            try:
                module = importlib.import_module(node.module)
            except ImportError:
                continue
            for alias in node.names:
                if hasattr(module, alias.name):
                    bound[alias.asname or alias.name] = getattr(module, alias.name)
    return bound


def _chain(node: ast.Attribute) -> list[str] | None:
    """['Qt', 'TimeSpec', 'UTC'] for Qt.TimeSpec.UTC; None when the chain does not start at a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id] + parts[::-1]


def _unscoped_enum(parts: list[str], bound: dict) -> str | None:
    """'Qt.TimeSpec.UTC' when ``parts`` reach an enum member through a class, not through its enum."""
    if parts[0] not in bound:
        return None
    owner, value = None, bound[parts[0]]
    for part in parts[1:]:
        owner, value = value, getattr(value, part, None)
        if value is None:
            return None
    if owner is None or not _is_enum_member(value) or _is_enum_type(owner):
        return None
    scope = next((name for name in dir(owner) if getattr(owner, name, None) is type(value)), type(value).__name__)
    return "%s.%s.%s" % (".".join(parts[:-1]), scope, parts[-1])


def check_source(source: str, path: str) -> list[Finding]:
    """Every Qt5-only construct in one Python file's text."""
    tree = ast.parse(source, filename=path)
    lines = source.splitlines()
    bound = _bindings(tree)
    found = []

    def report(node: ast.AST, message: str) -> None:
        if not lines[node.lineno - 1].rstrip().endswith(PRAGMA):
            found.append(Finding(path, node.lineno, node.col_offset + 1, message))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            names = [alias.name for alias in node.names]
            for module in modules:
                if module.split(".")[0] in DIRECT_QT_MODULES:
                    report(node, "import of %s: import Qt through qgis.PyQt" % module)
                elif module == "qgis.PyQt.Qt":
                    report(node, "qgis.PyQt.Qt is removed in PyQt6: import from qgis.PyQt.QtCore and friends")
                elif module.split(".")[-1] in COMPILED_RESOURCES or set(names) & set(COMPILED_RESOURCES):
                    report(node, "compiled resources (pyrcc) are removed in PyQt6: load files by path")
            for name in names:
                if name in REMOVED_NAMES:
                    report(node, REMOVED_NAMES[name])
        elif isinstance(node, ast.FunctionDef) and node.name == "exec_":
            report(node, "def exec_(): PyQt6 calls exec()")
        elif isinstance(node, ast.Name) and node.id == "qApp":
            report(node, REMOVED_NAMES["qApp"])
        elif isinstance(node, ast.Attribute):
            if node.attr == "exec_":
                report(node, "exec_() is removed in PyQt6: use exec()")
                continue
            parts = _chain(node)
            if parts is None:
                continue
            if parts[0] == "QVariant" and isinstance(node.value, ast.Name) and node.attr[:1].isupper():
                report(node, "QVariant.%s: QVariant's type constants are removed in PyQt6; use the field types "
                             "of algorithms/qgis_compat.py" % parts[1])
            elif parts[0] != "QVariant":
                scoped = _unscoped_enum(parts, bound)
                if scoped:
                    report(node, "unscoped enum %s: PyQt6 needs %s" % (".".join(parts), scoped))
    return sorted(found, key=lambda finding: (finding.line, finding.column))


def check_files(paths: list[Path]) -> list[Finding]:
    """Findings in every file: Python files by their code, Qt resource collections by their presence."""
    found = []
    for path in paths:
        shown = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        if path.suffix == ".qrc" or path.name.endswith("_rc.py"):
            found.append(Finding(shown, 1, 1, "compiled resources (pyrcc) are removed in PyQt6: load files by path"))
        elif path.suffix == ".py":
            found += check_source(path.read_text(encoding="utf-8"), shown)
    return found


def main(argv: list[str]) -> int:
    paths = [Path(arg).resolve() for arg in argv] or [ROOT / relative for relative in plugin_files()]
    found = check_files(paths)
    for finding in found:
        print(finding)
    print("%d Qt5-only construct(s) in %d file(s)" % (len(found), len(paths)), file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
