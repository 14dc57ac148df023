"""One peer on one dispatch case, in a process of its own so peers run side by side fairly.

python -m bench.dispatch_peer PEER WPS_URL JOBS MAX_CONCURRENT [mixed] [JOB_TIMES_FILE]
-> prints "makespan polls" (ours: then its ETA errors, see bench.peers.ours)

"mixed" sends the squares of 1-60 km² (bench.common.mixed_collections) instead of Canberra's
polygons; a JOB_TIMES_FILE keeps our job-time model from one run to the next.
"""

from __future__ import annotations

import sys

from bench.common import canberra_collections, mixed_collections
from bench.peers import PEERS


def main(peer: str, wps_url: str, jobs: int, max_concurrent: int, polygons: str = "canberra",
         job_times: str = "") -> None:
    collections = mixed_collections(jobs) if polygons == "mixed" else canberra_collections()
    chosen = [collections[i % len(collections)] for i in range(jobs)]
    extra = (job_times,) if peer == "ours" else ()
    print(" ".join("%.4f" % value for value in PEERS[peer](wps_url, chosen, max_concurrent, *extra)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), *sys.argv[5:])
