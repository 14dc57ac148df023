"""The benchmark server must speak WIT as the PyWPS one does, or its figures mean nothing."""

import json
import threading
from datetime import datetime

import pytest
import requests
from wit_dispatcher.wit_provider.common import job_states
from wit_dispatcher.wit_provider.common.job_states import SUCCEEDED
from wit_dispatcher.wit_provider.dispatch import wps
from wit_dispatcher.wit_provider.dispatch.client import WpsClient
from wit_dispatcher.wit_provider.dispatch.dispatcher import Dispatcher
from wit_dispatcher.wit_provider.dispatch.jobs import Job
from wit_dispatcher.wit_provider.dispatch.polling import Polling
from wit_dispatcher.wit_provider.dispatch.wps import WpsException
from wit_server.fast import FastWit, area_km2

SQUARE = json.dumps({"type": "Polygon", "coordinates": [[[149.1, -35.3], [149.2, -35.3], [149.2, -35.2],
                                                          [149.1, -35.3]]]})


@pytest.fixture
def fast_wit():
    wit = FastWit(job_seconds=0.2)
    thread = threading.Thread(target=wit.serve, daemon=True)
    thread.start()
    yield wit
    wit.server.shutdown()


def execute(collection):
    return wps.build_execute("WIT", collection, datetime(2010, 1, 1), datetime(2011, 1, 1))


def test_passes_the_same_checks_and_runs_jobs(fast_wit):
    client = WpsClient(fast_wit.wps_url)
    client.check_process("WIT")
    jobs = [Job(i, execute=execute(wps.feature_collection(SQUARE))) for i in range(20)]
    outcomes = list(Dispatcher(client, 4, 30, Polling(first=0.05)).run(jobs))
    assert [o.status for o in outcomes] == [SUCCEEDED] * 20
    assert len({o.url for o in outcomes}) == 20
    stats = requests.get(fast_wit.base_url + "/stats").json()
    assert stats["executes"] == 20 and stats["connections"] <= 4 + 3  # keep-alive: reused per worker


def test_refuses_what_the_real_server_refuses(fast_wit):
    two = '{"type":"FeatureCollection","features":[{"type":"Feature","geometry":%s,"properties":{}},' \
          '{"type":"Feature","geometry":%s,"properties":{}}]}' % (SQUARE, SQUARE)
    with pytest.raises(WpsException, match="InvalidParameterValue: expected exactly one feature"):
        WpsClient(fast_wit.wps_url).submit(execute(two))
    status = WpsClient(fast_wit.wps_url).submit(execute(wps.feature_collection(SQUARE)))
    assert status.state == job_states.ACCEPTED


def test_job_time_proportional_to_area_within_bounds():
    wit = FastWit(seconds_per_km2=2.0)
    sizes = {0.001: 1.0, 0.03: None, 0.1: 60.0}  # degrees a side -> expected seconds (None: 2 s per km2)
    for side, expected in sizes.items():
        square = {"type": "Polygon", "coordinates": [[[149, -35], [149 + side, -35], [149 + side, -35 - side],
                                                      [149, -35 - side], [149, -35]]]}
        collection = json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": square, "properties": {}}]})
        assert wit.execute(execute(collection))[0] == 200
        (_, seconds), = [wit.jobs.popitem()[1]]
        km2 = area_km2(square)
        assert seconds == (expected if expected is not None else pytest.approx(2.0 * km2))
    assert area_km2({"type": "Polygon", "coordinates": [[[149, -35], [149.01, -35], [149.01, -35.01],
                                                         [149, -35.01], [149, -35]]]}) == pytest.approx(1.01, rel=0.01)
