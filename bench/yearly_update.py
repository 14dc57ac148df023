"""Dispatch WIT through the real algorithm on 16 Canberra polygons, as a yearly update runs it.

python -m bench.yearly_update WPS_URL END JOURNAL CONFIG [FIRST] -> prints "makespan jobs"

The polygons from FIRST (default 0), START 2010-01-01, END as given, 8 in flight, in the QGIS
configuration folder CONFIG: successive runs given one folder share its profile and job-time
model, as an analyst's runs do.
"""

from __future__ import annotations

import os
import sys
import time

POLYGONS = 16


def main(wps_url: str, end: str, journal: str, config: str, first: str = "0") -> None:
    from bench.common import conftest  # conftest: the plugin's import path and the sample data
    from tools.qgis import processing_session

    os.environ["QGIS_CUSTOM_CONFIG_PATH"] = config  # after conftest, which sets a folder of its own

    app, plugin = processing_session()
    import processing
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(str(conftest.CANBERRA_ZIP), "canberra", "ogr")
    layer.setSubsetString("FID >= %d AND FID < %d" % (int(first), int(first) + POLYGONS))
    assert layer.featureCount() == POLYGONS, layer.featureCount()
    began = time.monotonic()
    result = processing.run("wit:dispatchwit", {
        "INPUT": layer, "WPS_URL": wps_url, "START": "2010-01-01T00:00:00", "END": end + "T00:00:00",
        "MAX_CONCURRENT": 8, "OUTPUT": "TEMPORARY_OUTPUT", "JOURNAL": journal})
    elapsed = time.monotonic() - began
    assert result["SUCCEEDED"] == POLYGONS and result["REUSED"] == 0, result
    print("%.2f %d" % (elapsed, POLYGONS))


if __name__ == "__main__":
    main(*sys.argv[1:])
