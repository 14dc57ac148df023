"""Which part of the plugin may import which: the layout CONTRIBUTING.md describes, kept by a test.

The engines (common/, dispatch/, results/) import no QGIS, Qt, Processing, GUI or algorithm
code; the two halves do not import each other; the QGIS boundary (qgis_bridge/) never reaches up
into the algorithms or the GUI; algorithms import gui/ only inside a function, so Processing
and qgis_process never load widgets. Imports are read from the source (absolute, relative,
nested), so a rule broken anywhere in a module fails here with its file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tools.plugin_files import ROOT, plugin_files

PACKAGE = "wit_dispatcher"
ENGINES = ("wit_provider.common", "wit_provider.dispatch", "wit_provider.results")
OUTSIDE_QGIS = ("qgis", "processing", "PyQt5", "PyQt6", "sip")


def module_name(path: Path) -> str:
    """``wit_provider/dispatch/wps.py`` → ``wit_provider.dispatch.wps`` (a package's ``__init__`` is the package)."""
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[str, bool, int]]:
    """(imported module, at module level?, line) for every import in ``source``, relative ones resolved
    against ``module`` and named without the plugin's package (``wit_provider.dispatch.wps``)."""
    tree = ast.parse(source)
    nested = {id(node) for function in ast.walk(tree) if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
              for node in ast.walk(function) if node is not function}
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        top = id(node) not in nested
        if isinstance(node, ast.Import):
            found += [(_local(alias.name), top, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = _local(node.module)
            found.append((target, top, node.lineno))
            # ``from . import wps`` imports the module wps: the package alone would hide it
            found += [(".".join(filter(None, (target, alias.name))), top, node.lineno) for alias in node.names]
    return found


def _local(name: str) -> str:
    return name[len(PACKAGE) + 1:] if name.startswith(PACKAGE + ".") else name


def _within(name: str, parts: tuple[str, ...]) -> bool:
    return any(name == part or name.startswith(part + ".") for part in parts)


def problems(module: str, found: list[tuple[str, bool, int]]) -> list[str]:
    """What ``module``'s imports break of the layout's rules."""
    broken = []
    for target, top, line in found:
        for rule in _rules_broken(module, target, top):
            broken.append("%s:%d imports %s: %s" % (module, line, target, rule))
    return broken


def _rules_broken(module: str, target: str, top: bool) -> list[str]:
    rules = []
    if _within(module, ENGINES):
        if _within(target, OUTSIDE_QGIS):
            rules.append("the engines run without QGIS, Qt and Processing")
        if _within(target, ("wit_provider.qgis_bridge", "wit_provider.provider", "algorithms", "gui")):
            rules.append("the engines never import the QGIS layer above them")
    if _within(module, ("wit_provider.common",)) and _within(target, ENGINES[1:]):
        rules.append("common/ is what both halves share: it imports neither")
    if (_within(module, ("wit_provider.dispatch",)) and _within(target, ("wit_provider.results",))
            or _within(module, ("wit_provider.results",)) and _within(target, ("wit_provider.dispatch",))):
        rules.append("dispatch/ and results/ do not import each other")
    if _within(module, ("wit_provider.qgis_bridge",)) and _within(target, ("algorithms", "gui")):
        rules.append("the QGIS boundary serves the algorithms and the GUI, it does not import them")
    if _within(module, ("algorithms", "wit_provider")) and top and _within(target, ("gui",)):
        rules.append("Processing must not load widgets: import gui/ inside the function that shows them")
    return rules


def plugin_modules() -> list[tuple[str, Path]]:
    return [(module_name(path), path) for path in plugin_files() if path.suffix == ".py"]


def test_every_module_keeps_the_layout():
    broken = []
    for module, path in plugin_modules():
        source = (ROOT / path).read_text(encoding="utf-8")
        broken += problems(module, imports(source, module, path.name == "__init__.py"))
    assert broken == []


def test_the_layout_has_both_halves_and_the_boundary():
    """The rules above name packages: if one were renamed away, they would check nothing."""
    modules = {module for module, _ in plugin_modules()}
    for package in ENGINES + ("wit_provider.qgis_bridge", "algorithms", "gui"):
        assert any(_within(module, (package,)) and module != package for module in modules), package


@pytest.mark.parametrize("module, source, rule", [
    ("wit_provider.results.loader", "from ..dispatch.client import WpsClient\n", "do not import each other"),
    ("wit_provider.dispatch.wps", "from ..results import table\n", "do not import each other"),
    ("wit_provider.dispatch.wps", "def f():\n    from qgis.core import QgsGeometry\n", "without QGIS"),
    ("wit_provider.results.plot", "import processing\n", "without QGIS"),
    ("wit_provider.common.job_states", "from ..dispatch import wps\n", "imports neither"),
    ("wit_provider.dispatch.client", "from ..qgis_bridge.network import proxy_rule\n", "layer above them"),
    ("wit_provider.qgis_bridge.network", "from ...gui import explorer\n", "does not import them"),
    ("algorithms.load_results", "from ..gui.explorer import ExplorerDock\n", "must not load widgets"),
    ("algorithms.load_results", "from .. import gui\n", "must not load widgets"),
])
def test_a_broken_rule_is_named_with_its_line(module, source, rule):
    broken = problems(module, imports(source, module))
    assert len(broken) >= 1 and rule in broken[0] and broken[0].startswith(module + ":")


def test_an_import_inside_a_function_of_an_algorithm_may_load_widgets():
    source = "def show():\n    from ..gui.plot import window\n    return window\n"
    assert problems("algorithms.load_results", imports(source, "algorithms.load_results")) == []
