"""Three ways to run the same WIT jobs: ours, the original notebook's, and OWSLib's.

Each returns (makespan in seconds, status requests made); ours also how far off its
time left was (see ``ours``). Every peer sends the same geometry and dates to the same
server with the same number of jobs in flight.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from wit_dispatcher.wit_provider.common.job_states import SUCCEEDED
from wit_dispatcher.wit_provider.dispatch import wps
from wit_dispatcher.wit_provider.dispatch.client import WpsClient
from wit_dispatcher.wit_provider.dispatch.dispatcher import Dispatcher
from wit_dispatcher.wit_provider.dispatch.forecast import LEAST_LEFT
from wit_dispatcher.wit_provider.dispatch.job_times import JobTimesFile, Workload, model_key
from wit_dispatcher.wit_provider.dispatch.jobs import Job
from wit_dispatcher.wit_provider.dispatch.tally import Tally
from wit_server.fast import area_km2

from bench.common import END, START


class _CountingClient(WpsClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.polls = 0
        self._lock = threading.Lock()

    def poll(self, status_location):
        with self._lock:
            self.polls += 1
        return super().poll(status_location)


def ours(url: str, collections: list[str], max_concurrent: int, job_times: str = "",
         end: datetime | None = None) -> tuple[float, ...]:
    """Also the ETA error at 10, 50 and 90 % of the jobs and the worst from 10 to 90 %, each
    (predicted end - end) / time left then. ``job_times``: a file the model is read from and
    saved to (as the algorithm does in the QGIS profile); areas here come from the server's
    own formula (the algorithm measures them with QgsDistanceArea). ``end``: the interval's end
    (default bench.common.END), later for a yearly update."""
    end = end or END
    years = (end - START).total_seconds() / (365.25 * 86400)
    client = _CountingClient(url, pool_size=max_concurrent)
    store = JobTimesFile(job_times) if job_times else None
    key = model_key(url, "WIT")
    model = store.load(key) if store else None
    workloads = [Workload(area_km2(json.loads(c)["features"][0]["geometry"]), years) for c in collections]
    jobs = (Job(i, execute=wps.build_execute("WIT", c, START, end), workload=w)
            for i, (c, w) in enumerate(zip(collections, workloads)))
    said: list[tuple[float, float, int]] = []  # (when, time left, jobs finished)

    def progress(tally: Tally) -> None:
        if tally.seconds_left is not None and (not said or said[-1][2] != tally.finished):
            said.append((time.monotonic(), tally.seconds_left, tally.finished))

    dispatcher = Dispatcher(client, max_concurrent, 3600, job_times=model, total=len(collections), sample=workloads)
    began = time.monotonic()
    outcomes = list(dispatcher.run(jobs, on_progress=progress))
    ended = time.monotonic()
    assert all(o.status == SUCCEEDED for o in outcomes), {o.error for o in outcomes}
    if store:
        store.save(key, dispatcher.job_times)
    errors = dispatcher.tally.eta_errors
    n = len(collections)
    worst = max((abs(when + left - ended) / (ended - when) for when, left, done in said
                 if 0.1 * n <= done <= 0.9 * n and ended - when >= LEAST_LEFT * (ended - began)), default=float("nan"))
    return (ended - began, client.polls, *(errors.get(f, float("nan")) for f in (0.1, 0.5, 0.9)), worst)


_NOTEBOOK_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<wps:Execute version="1.0.0" service="WPS" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xmlns="http://www.opengis.net/wps/1.0.0" xmlns:wfs="http://www.opengis.net/wfs"
 xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1"
 xmlns:gml="http://www.opengis.net/gml" xmlns:ogc="http://www.opengis.net/ogc"
 xmlns:wcs="http://www.opengis.net/wcs/1.1.1" xmlns:xlink="http://www.w3.org/1999/xlink">
  <ows:Identifier>WIT</ows:Identifier>
  <wps:DataInputs>
    <wps:Input><ows:Identifier>geometry</ows:Identifier><wps:Data><wps:ComplexData>%s</wps:ComplexData></wps:Data></wps:Input>
    <wps:Input><ows:Identifier>start</ows:Identifier><wps:Data><wps:ComplexData>%s</wps:ComplexData></wps:Data></wps:Input>
    <wps:Input><ows:Identifier>end</ows:Identifier><wps:Data><wps:ComplexData>%s</wps:ComplexData></wps:Data></wps:Input>
  </wps:DataInputs>
  <wps:ResponseForm><wps:ResponseDocument storeExecuteResponse="true" status="true"/></wps:ResponseForm>
</wps:Execute>"""


def notebook(url: str, collections: list[str], max_concurrent: int) -> tuple[float, int]:
    """The original notebook's approach: asyncio + aiohttp, a semaphore, a fixed 2 s poll."""
    import aiohttp

    polls = 0

    async def one(session, semaphore, collection):
        nonlocal polls
        async with semaphore:
            body = _NOTEBOOK_TEMPLATE % (collection, wps.date_object(START), wps.date_object(END))
            async with session.post(url, data=body, headers={"Content-Type": "text/xml"}) as reply:
                location = re.search(r'statusLocation="([^"]+)"', await reply.text()).group(1)
            while True:
                await asyncio.sleep(2)
                polls += 1
                async with session.get(location) as reply:
                    text = await reply.text()
                if "ProcessSucceeded" in text or "ProcessFailed" in text:
                    return text

    async def main():
        semaphore = asyncio.Semaphore(max_concurrent)
        async with aiohttp.ClientSession(headers={"Accept": "text/xml"}) as session:
            return await asyncio.gather(*(one(session, semaphore, c) for c in collections))

    began = time.monotonic()
    results = asyncio.run(main())
    elapsed = time.monotonic() - began
    assert all("ProcessSucceeded" in r for r in results)
    return elapsed, polls


def owslib(url: str, collections: list[str], max_concurrent: int) -> tuple[float, int]:
    """OWSLib: execute in ASYNC mode and monitorExecution (its default 3 s sleep), in a thread pool."""
    from owslib.wps import ASYNC, ComplexDataInput, WebProcessingService, monitorExecution

    polls = 0
    lock = threading.Lock()

    def one(collection):
        nonlocal polls
        service = WebProcessingService(url, skip_caps=True, timeout=60)
        inputs = [("geometry", ComplexDataInput(collection)), ("start", ComplexDataInput(wps.date_object(START))),
                  ("end", ComplexDataInput(wps.date_object(END)))]
        execution = service.execute("WIT", inputs, mode=ASYNC)
        check = execution.checkStatus

        def counted(*args, **kwargs):
            nonlocal polls
            with lock:
                polls += 1
            return check(*args, **kwargs)

        execution.checkStatus = counted
        monitorExecution(execution)
        return execution.isSucceded()

    began = time.monotonic()
    with ThreadPoolExecutor(max_concurrent) as pool:
        results = list(pool.map(one, collections))
    elapsed = time.monotonic() - began
    assert all(results), "OWSLib jobs did not all succeed"
    return elapsed, polls


PEERS = {"ours": ours, "notebook": notebook, "owslib": owslib}
