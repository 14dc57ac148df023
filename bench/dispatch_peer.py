"""One peer on one dispatch case, in a process of its own so peers run side by side fairly.

python -m bench.dispatch_peer PEER WPS_URL JOBS MAX_CONCURRENT [POLYGONS] [JOB_TIMES_FILE] [END]
-> prints "makespan polls" (ours: then its ETA errors, see bench.peers.ours)

POLYGONS: "canberra" (the sample's polygons from the first), "canberra-other" (the same number of
others, from the 41st: other sizes) or "mixed" (the squares of 1-60 km² of
bench.common.mixed_collections). A JOB_TIMES_FILE keeps our job-time model from one run to the
next; END (YYYY-MM-DD) ends the interval elsewhere than bench.common.END, as a yearly update does.
"""

from __future__ import annotations

import sys
from datetime import datetime

from bench.common import canberra_collections, mixed_collections
from bench.peers import PEERS

OTHER_FROM = 40  # "canberra-other" starts here: polygons the first 16 do not include


def main(peer: str, wps_url: str, jobs: int, max_concurrent: int, polygons: str = "canberra",
         job_times: str = "", end: str = "") -> None:
    collections = mixed_collections(jobs) if polygons == "mixed" else canberra_collections()
    first = OTHER_FROM if polygons == "canberra-other" else 0
    chosen = [collections[(first + i) % len(collections)] for i in range(jobs)]
    extra = (job_times, datetime.fromisoformat(end) if end else None) if peer == "ours" else ()
    print(" ".join("%.4f" % value for value in PEERS[peer](wps_url, chosen, max_concurrent, *extra)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), *sys.argv[5:])
