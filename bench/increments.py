"""Time increments through the real algorithm: Canberra's 86 polygons x 10 yearly increments.

python -m bench.increments WPS_URL -> prints "makespan jobs"
"""

from __future__ import annotations

import sys
import time


def main(wps_url: str) -> None:
    from bench.common import CACHE, conftest  # conftest: the plugin's import path and the sample data
    from tools.qgis import processing_session

    app, plugin = processing_session()
    import processing

    began = time.monotonic()
    result = processing.run("wit:dispatchwit", {
        "INPUT": str(conftest.CANBERRA_ZIP), "WPS_URL": wps_url, "START": "2010-01-01T00:00:00",
        "END": "2020-01-01T00:00:00", "INCREMENT_YEARS": 1, "MAX_CONCURRENT": 8, "OUTPUT": "TEMPORARY_OUTPUT",
        "JOURNAL": str(CACHE / "increments.wit-journal.sqlite")})
    elapsed = time.monotonic() - began
    assert result["SUCCEEDED"] == 86, result
    print("%.2f %d" % (elapsed, 860))


if __name__ == "__main__":
    main(sys.argv[1])
