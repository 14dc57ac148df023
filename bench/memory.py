"""Peak memory of a full dispatch of N polygons against instant jobs, each size in a fresh process.

Run one size: python -m bench.memory WPS_URL ZIP OUTPUT; prints "peak_rss_mb seconds features".
"""

from __future__ import annotations

import resource
import sys
import time


def main(wps_url: str, source: str, output: str) -> None:
    import bench.common  # noqa: F401  (plugin import path)
    from tools.qgis import processing_session

    app, plugin = processing_session()
    import processing

    began = time.monotonic()
    result = processing.run("wit:dispatchwit", {"INPUT": source, "WPS_URL": wps_url, "MAX_CONCURRENT": 64,
                                                "OUTPUT": output})
    elapsed = time.monotonic() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("%.1f %.1f %d" % (peak_mb, elapsed, result["SUCCEEDED"]))


if __name__ == "__main__":
    main(*sys.argv[1:4])
