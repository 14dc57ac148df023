"""GDAL's Parquet reader against pyarrow: the sample's 101 series, each read and merged by both.

`python -m bench.parquet_readers` writes the sample's series (INT96 and int64 time in turn) in
memory once, then reads all 101 with ``read_series`` and ``merge`` ROUNDS times through each
reader, in turn: GDAL through its Arrow stream (GDAL 3.6 and later), GDAL feature by feature (what
older GDALs get), and pyarrow. Prints "arrow_s features_s
pyarrow_s arrow_ratio features_ratio" (the best round of each, CPU seconds; ratios to pyarrow), or
"- - - - -" where this GDAL has no Parquet driver or pyarrow is missing (the host's
Debian 12; the sid root of `make test-matrix` has both).
"""

from __future__ import annotations

import time

from bench.common import CACHE  # noqa: F401  (puts the checkout and tests on sys.path)

ROUNDS = 7


def bodies() -> list[bytes]:
    from wit_server.s3 import sample_uids, wit_parquet

    return [wit_parquet(uid, "int96" if i % 2 else "int64") for i, uid in enumerate(sample_uids())]


def one_pass(files: list[bytes], reader: str) -> float:
    from osgeo import ogr

    from wit_provider.results.table import merge, read_series

    stream = ogr.Layer.GetArrowStreamAsNumPy
    if reader == "features":  # the GDAL reader as a GDAL without the Arrow stream runs it
        del ogr.Layer.GetArrowStreamAsNumPy
    try:
        began = time.process_time()
        for data in files:
            merge([read_series(data, "pyarrow" if reader == "pyarrow" else "gdal")])
        return time.process_time() - began
    finally:
        ogr.Layer.GetArrowStreamAsNumPy = stream


def main() -> None:
    from osgeo import gdal

    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pyarrow = None
    if gdal.GetDriverByName("Parquet") is None or pyarrow is None:
        print("- - - - -")
        return
    files = bodies()
    readers = ["arrow", "features", "pyarrow"]
    for reader in readers:  # warm
        one_pass(files, reader)
    times: dict = {reader: [] for reader in readers}
    for number in range(ROUNDS):
        for reader in readers[number % 3:] + readers[:number % 3]:  # each goes first in turn
            times[reader].append(one_pass(files, reader))
    best = {reader: min(seconds) for reader, seconds in times.items()}
    print("%.4f %.4f %.4f %.3f %.3f" % (best["arrow"], best["features"], best["pyarrow"],
                                        best["arrow"] / best["pyarrow"], best["features"] / best["pyarrow"]))


if __name__ == "__main__":
    main()
