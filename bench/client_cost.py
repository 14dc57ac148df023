"""Client CPU per job: N instant jobs through the engine (no QGIS), the server in another process.

Prints "cpu_ms_per_job connections_opened seconds".
"""

from __future__ import annotations

import sys
import time

from bench.common import END, START, canberra_collections, start_server


def main(jobs: int = 2000, max_concurrent: int = 32) -> None:
    from wit_dispatcher.wit_provider.common.job_states import SUCCEEDED
    from wit_dispatcher.wit_provider.dispatch import wps
    from wit_dispatcher.wit_provider.dispatch.client import WpsClient
    from wit_dispatcher.wit_provider.dispatch.dispatcher import Dispatcher
    from wit_dispatcher.wit_provider.dispatch.jobs import Job

    collections = canberra_collections()
    server = start_server(0.0)
    try:
        bodies = [wps.build_execute("WIT", collections[i % len(collections)], START, END) for i in range(jobs)]
        client = WpsClient(server.wps_url, pool_size=max_concurrent)
        before = server.stats()
        cpu, wall = time.process_time(), time.monotonic()
        outcomes = list(Dispatcher(client, max_concurrent, 3600).run(Job(i, execute=b) for i, b in enumerate(bodies)))
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        after = server.stats()
    finally:
        server.stop()
    assert all(o.status == SUCCEEDED for o in outcomes)
    print("%.2f %d %.1f" % (1000 * cpu / jobs, after["connections"] - before["connections"], wall))


if __name__ == "__main__":
    main(*map(int, sys.argv[1:3]))
