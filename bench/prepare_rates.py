"""Preparation rates, ours and the notebook's, on the same 100,000-polygon file in one process.

Prints "ours_per_second notebook_per_second polygons". The notebook's path builds a
PROJ transformer for every polygon and is slow, so it is timed on the first 1,000
polygons; ours on all of them.
"""

from __future__ import annotations

from bench.common import ROOT  # noqa: F401  (plugin import path)


def main() -> None:
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    from bench import prepare

    path = prepare.wetlands_zip(100_000)
    ours = prepare.ours(path, 100_000)
    notebook = prepare.notebook(path, 1_000)
    print("%.1f %.1f %d" % (ours, notebook, 100_000))
    del app


if __name__ == "__main__":
    main()
