"""One peer on one dispatch case, in a process of its own so peers run side by side fairly.

python -m bench.dispatch_peer PEER WPS_URL JOBS MAX_CONCURRENT -> prints "makespan polls"
"""

from __future__ import annotations

import sys

from bench.common import canberra_collections
from bench.peers import PEERS


def main(peer: str, wps_url: str, jobs: int, max_concurrent: int) -> None:
    collections = canberra_collections()
    chosen = [collections[i % len(collections)] for i in range(jobs)]
    makespan, polls = PEERS[peer](wps_url, chosen, max_concurrent)
    print("%.2f %d" % (makespan, polls))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
