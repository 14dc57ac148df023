"""What the client and the pool do with faults a real server or gateway produces: bursts at
start-up, malformed URLs, redirects to other hosts, slow or refused submissions."""

import json
import socket
import threading
import time
from datetime import datetime

import pytest
from conftest import RECORDED
from fault_proxy import FaultProxy
from stub_server import StubServer
from test_dispatcher import ScriptedClient
from wit_dispatcher.wit_provider.common import job_states
from wit_dispatcher.wit_provider.common.job_states import CANCELLED, FAILED, SUCCEEDED, TIMEOUT
from wit_dispatcher.wit_provider.dispatch import wps
from wit_dispatcher.wit_provider.dispatch.client import (
    PreflightCancelled,
    ServiceError,
    TransientError,
    WpsClient,
    preflight_delays,
    url_problem,
)
from wit_dispatcher.wit_provider.dispatch.dispatcher import Dispatcher
from wit_dispatcher.wit_provider.dispatch.jobs import Job, RetryPolicy
from wit_dispatcher.wit_provider.dispatch.journal import Journal
from wit_dispatcher.wit_provider.dispatch.polling import Polling
from wit_dispatcher.wit_provider.dispatch.wps import JobStatus

SQUARE = {"type": "Polygon", "coordinates": [[[149.1, -35.3], [149.2, -35.3], [149.2, -35.2], [149.1, -35.3]]]}
NO_WAIT = RetryPolicy(base=0.001, cap=0.002)
SECRET = "Bearer t0ken-9f2c"


def execute(geometry=SQUARE):
    collection = wps.feature_collection(json.dumps(geometry))
    return wps.build_execute("WIT", collection, datetime(2010, 1, 1), datetime(2011, 1, 1))


def jobs(n):
    return [Job(i, execute=execute({**SQUARE, "id": i})) for i in range(n)]


@pytest.fixture
def stub():
    servers = []

    def start(respond, host="127.0.0.1"):
        servers.append(StubServer(respond, host))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


# Preflight: transient faults are waited out; definite answers fail at once.

def test_a_burst_of_gateway_faults_at_start_up_is_waited_out(wit_server):
    proxy = FaultProxy(wit_server.base_url, script=["503", "html", "html", "html"])
    try:
        WpsClient(proxy.url(wit_server.wps_url)).check_process("WIT")
    finally:
        proxy.stop()
    assert not proxy.script  # every scripted fault was met, and the check still passed


def test_a_404_fails_at_once(stub):
    server = stub(lambda seen: (404, {"Content-Type": "text/html"}, b"<html>no</html>"))
    with pytest.raises(ServiceError, match="answered HTTP 404"):
        WpsClient(server.base_url + "/wps").check_process("WIT")
    assert len(server.requests()) == 1


def test_a_wps_exception_fails_at_once(stub):
    report = (b'<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1" version="1.0.0">'
              b'<ows:Exception exceptionCode="NoApplicableCode"><ows:ExceptionText>no such service'
              b'</ows:ExceptionText></ows:Exception></ows:ExceptionReport>')
    server = stub(lambda seen: (400, {"Content-Type": "text/xml"}, report))
    with pytest.raises(ServiceError, match="NoApplicableCode: no such service"):
        WpsClient(server.base_url + "/wps").check_process("WIT")
    assert len(server.requests()) == 1


def test_preflight_retries_for_about_thirty_seconds_then_gives_up():
    delays = preflight_delays()
    assert 25 <= sum(delays) <= 32  # waits out a gateway's restart, still ends within a minute
    assert delays[:-1] == sorted(delays[:-1]) and delays[0] <= 1


def test_a_gateway_that_stays_down_fails_the_check_with_the_reason(stub):
    server = stub(lambda seen: (503, {"Content-Type": "text/html"}, b"<html>down</html>"))
    with pytest.raises(ServiceError, match="answered HTTP 503"):
        WpsClient(server.base_url + "/wps", preflight_seconds=1).check_process("WIT")
    assert len(server.requests()) >= 2


def test_a_cancel_during_the_start_up_checks_stops_them(stub):
    server = stub(lambda seen: (503, {"Content-Type": "text/html"}, b"<html>down</html>"))
    with pytest.raises(PreflightCancelled):
        WpsClient(server.base_url + "/wps").check_process("WIT", cancelled=lambda: len(server.requests()) >= 1)
    assert len(server.requests()) == 1


def test_a_web_page_that_is_no_wps_still_fails_with_the_reason(stub):
    server = stub(lambda seen: (200, {"Content-Type": "text/html"}, b"<html><body>Welcome</body></html>"))
    with pytest.raises(ServiceError, match="did not answer as an OGC WPS 1.0.0 server"):
        WpsClient(server.base_url + "/wps", preflight_seconds=1).check_process("WIT")
    assert len(server.requests()) >= 2  # an HTML page may be a gateway's: asked again


# The URL itself.

@pytest.mark.parametrize("url, problem", [
    ("http://127.0.0.1:80a/wps", "has a port '80a' that is not a number"),
    ("http://127.0.0.1:99999/wps", "has a port 99999 out of range"),
    ("https:///wps", "has no host"),
    ("ftp://example.org/wps", "is not an http:// or https:// URL"),
    ("http://exa mple.org/wps", "has a space"),
])
def test_malformed_urls_are_named(url, problem):
    assert problem in url_problem(url)


def test_good_urls_pass():
    assert url_problem("https://ows.dev.dea.ga.gov.au/wps/?service=WPS&request=Execute") == ""
    assert url_problem("http://[::1]:8080/wps") == ""


# Credentials follow no redirect to another origin.

def test_credential_headers_stay_on_the_wps_origin_across_redirects(wit_server, stub):
    other_host = FaultProxy(wit_server.base_url, rate=0.0, host="127.0.0.2")
    redirect = stub(lambda seen: (307, {"Location": other_host.base_url + seen.path}, b""))
    credentials = {"X-Esri-Authorization": SECRET, "X-API-Key": "k-31415", "Authorization": "Basic YTpi"}
    try:
        client = WpsClient(redirect.base_url + "/wps?service=WPS&request=Execute", auth_headers=credentials)
        client.check_process("WIT")
        status = client.submit(execute())
        deadline = time.monotonic() + 30
        while True:  # PyWPS rewrites a status document in place: a read can find it empty, a transient fault
            try:
                client.poll(status.status_location)
                break
            except TransientError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # a pause between polls, as the dispatcher's; the loop waits on the read
    finally:
        other_host.stop()
    at_origin = redirect.requests()
    assert {s.method for s in at_origin} == {"GET", "POST"}
    assert all(s.headers.get(name) == value for s in at_origin for name, value in credentials.items())
    assert len(other_host.headers_seen) >= 4  # both GETs and the POST were redirected, the poll went direct
    leaked = [h for h in other_host.headers_seen for name in credentials if name.lower() in map(str.lower, h)]
    assert not leaked


# Submissions: bounded retries, and refusals that are not retried.

def dispatcher(client, policy=NO_WAIT, max_concurrent=1, timeout=30.0):
    return Dispatcher(client, max_concurrent, timeout, Polling(first=0.01, cap=0.05, finest=0.01), policy, seed=1)


def test_a_post_that_times_out_is_sent_until_the_job_deadline_and_each_counted(stub):
    server = stub(lambda seen: None)  # takes every POST and never answers
    client = WpsClient(server.base_url + "/wps", read_timeout=0.2)
    pool = dispatcher(client, RetryPolicy(base=0.001, cap=0.002, outage_seconds=5), timeout=1.0)
    outcomes = list(pool.run(jobs(1)))
    sent = len(server.requests("POST"))
    assert outcomes[0].status == TIMEOUT and outcomes[0].error.startswith(
        "not submitted within 1 s: %d tries failed, the last with submission failed: ReadTimeout" % sent)
    assert 2 <= sent <= 6  # each waits 0.2 s for its reply: the deadline bounds them
    assert pool.tally.possible_duplicates == sent  # each one may have made a job on the server


@pytest.mark.parametrize("status, unsent", [(503, True), (429, True), (502, False), (504, False)])
def test_a_gateway_error_after_a_post_may_hide_a_job(stub, status, unsent):
    server = stub(lambda seen: (status, {"Content-Type": "text/html"}, b"<html>gateway</html>"))
    with pytest.raises(TransientError) as raised:
        WpsClient(server.base_url + "/wps").submit(execute())
    assert raised.value.unsent is unsent  # a 502/504 can come after the WPS took the job: a possible duplicate


def test_a_read_timeout_after_sending_may_have_made_a_job(stub):
    server = stub(lambda seen: None)
    with pytest.raises(TransientError) as raised:
        WpsClient(server.base_url + "/wps", read_timeout=0.2).submit(execute())
    assert not raised.value.unsent and not raised.value.unreachable


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_stop_the_run_and_nothing_more_is_sent(stub, status):
    server = stub(lambda seen: (status, {"Content-Type": "text/html"}, b"<html>denied</html>"))
    pool = dispatcher(WpsClient(server.base_url + "/wps"))
    outcomes = list(pool.run(jobs(5)))
    assert len(server.requests("POST")) == 1
    assert "HTTP %d" % status in pool.stopped_because and "AUTHCFG" in pool.stopped_because
    assert outcomes and {o.status for o in outcomes} == {CANCELLED}
    assert (pool.tally.retries, pool.tally.possible_duplicates) == (0, 0)


def test_jobs_refused_for_credentials_are_resubmitted_without_counting_duplicates(stub, tmp_path):
    server = stub(lambda seen: (401, {"Content-Type": "text/html"}, b"<html>denied</html>"))
    journal = Journal(tmp_path / "j.sqlite")
    todo = [Job(i, execute=b"job%d" % i, key="k%d" % i) for i in range(3)]
    refused = Dispatcher(WpsClient(server.base_url + "/wps"), 1, 30, Polling(), NO_WAIT, journal=journal)
    list(refused.run(todo))
    assert journal.lookup("k0").state == CANCELLED
    again = Dispatcher(ScriptedClient(), 1, 30, Polling(first=0.01, cap=0.05, finest=0.01), NO_WAIT, journal=journal)
    outcomes = list(again.run(todo))
    assert [o.status for o in outcomes] == [SUCCEEDED] * 3 and again.tally.possible_duplicates == 0


def test_a_request_too_large_fails_that_feature_only(stub, wit_server):
    proxy = FaultProxy(wit_server.base_url, rate=0.0)
    small = execute()

    def respond(seen):
        if seen.method == "POST" and len(seen.body) > len(small):
            return 413, {"Content-Type": "text/html"}, b"<html>Request Entity Too Large</html>"
        return 307, {"Location": proxy.base_url + seen.path}, b""

    gate = stub(respond)
    big = {"type": "Polygon", "coordinates": [[[149.1 + i / 1e5, -35.3] for i in range(200)] + [[149.1, -35.3]]]}
    todo = [Job(0, execute=execute(big)), Job(1, execute=small)]
    try:
        pool = dispatcher(WpsClient(gate.base_url + "/wps?service=WPS&request=Execute"))
        outcomes = list(pool.run(todo))
    finally:
        proxy.stop()
    assert outcomes[0].status == FAILED and "413" in outcomes[0].error and "too large" in outcomes[0].error
    assert outcomes[1].status == SUCCEEDED
    assert len([s for s in gate.requests("POST") if len(s.body) > len(small)]) == 1  # never retried
    # (a status poll may be retried: PyWPS can be caught writing the status document)
    assert pool.tally.possible_duplicates == 0


def test_polls_that_still_work_do_not_hide_a_wps_that_is_down():
    class WpsDownStatusUp:
        """The first job was accepted before the WPS went down; its status host still answers."""

        def __init__(self):
            self.submissions = 0

        def submit(self, execute):
            self.submissions += 1
            if self.submissions == 1:
                return JobStatus(job_states.ACCEPTED, status_location="status/0")
            raise TransientError("ConnectionError", unsent=True, unreachable=True)

        def poll(self, location):
            return JobStatus(job_states.STARTED, location)

    policy = RetryPolicy(base=0.001, cap=0.002, outage_seconds=2)  # more than the poll interval
    pool = dispatcher(WpsDownStatusUp(), policy, max_concurrent=2, timeout=30)
    outcomes = list(pool.run(jobs(2)))
    assert "the WPS server gave no reply" in pool.stopped_because
    assert [o.status for o in outcomes] == [CANCELLED, CANCELLED]  # not left polling until the 30 s deadline


def wps_0_4_0(name: str) -> bytes:
    """A recorded 1.0.0 document in WPS 0.4.0's namespace and version, as an older server writes it."""
    body = (RECORDED / name).read_bytes()
    return body.replace(b"http://www.opengis.net/wps/1.0.0", b"http://www.opengeospatial.net/wps") \
        .replace(b'version="1.0.0"', b'version="0.4.0"')


def test_a_wps_0_4_0_server_fails_the_start_up_check_at_once_saying_so(stub):
    server = stub(lambda seen: (200, {"Content-Type": "text/xml"}, wps_0_4_0("capabilities.xml")))
    with pytest.raises(ServiceError, match=r"a WPS 0\.4\.0 document: WIT Dispatcher speaks WPS 1\.0\.0"):
        WpsClient(server.base_url + "/wps").check_process("WIT")
    assert len(server.requests()) == 1  # asking again will not change the server's version


def test_a_wps_0_4_0_reply_fails_the_job_once_saying_so(stub):
    accepted = wps_0_4_0("execute_accepted.xml")
    server = stub(lambda seen: (200, {"Content-Type": "text/xml"}, accepted))
    pool = dispatcher(WpsClient(server.base_url + "/wps"), RetryPolicy(base=0.001, cap=0.002))
    outcomes = list(pool.run(jobs(1)))
    assert outcomes[0].status == FAILED and "WIT Dispatcher speaks WPS 1.0.0" in outcomes[0].error
    assert len(server.requests("POST")) == 1 and pool.tally.possible_duplicates == 0


def test_a_wps_0_4_0_status_document_is_no_transient_fault(stub):
    server = stub(lambda seen: (200, {"Content-Type": "text/xml"}, wps_0_4_0("status_started.xml")))
    with pytest.raises(wps.WpsException, match=r"a WPS 0\.4\.0 document: WIT Dispatcher speaks WPS 1\.0\.0"):
        WpsClient(server.base_url + "/wps").poll(server.base_url + "/outputs/job.xml")
    assert len(server.requests()) == 1


# A transient fault is never the end of a job while its deadline allows another try.


def one_job_through(wit_server, script: list) -> tuple:
    """One job through a proxy answering its first requests with ``script``'s faults ('' for none):
    the pool, its outcomes and the proxy."""
    proxy = FaultProxy(wit_server.base_url, rate=0.0, script=script)
    try:
        pool = dispatcher(WpsClient(proxy.url(wit_server.wps_url)))
        return pool, list(pool.run(jobs(1))), proxy
    finally:
        proxy.stop()


@pytest.mark.faults
def test_a_reply_cut_off_by_a_reset_is_retried_on_the_execute_and_on_a_poll(wit_server):
    # What a proxy's reset does to a reply still on the wire: its head, part of its body, then RST.
    pool, outcomes, _ = one_job_through(wit_server, ["cut", "", "cut", "cut"])
    assert outcomes[0].status == SUCCEEDED, outcomes[0].error
    assert pool.tally.possible_duplicates == 1  # the cut Execute reached the server: it may have made a job
    assert pool.tally.retries >= 3  # and more if PyWPS was caught writing the status document


@pytest.fixture
def short_reply():
    """A server whose every reply promises 1,000 bytes, sends a few and closes: a reply cut off."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 1000\r\n\r\n<wps:")

    threading.Thread(target=serve, daemon=True).start()
    yield "http://127.0.0.1:%d" % listener.getsockname()[1]
    listener.close()


def test_a_reply_cut_off_mid_body_is_transient_on_the_execute_and_on_a_poll(short_reply):
    client = WpsClient(short_reply + "/wps")
    with pytest.raises(TransientError, match=r"the reply was cut off \(ChunkedEncodingError\)") as raised:
        client.submit(execute())
    assert not raised.value.unsent  # the server had the Execute: a possible duplicate
    with pytest.raises(TransientError, match="cut off") as raised:
        client.poll(short_reply + "/outputs/job.xml")
    assert not raised.value.unreachable  # the status host answered: no outage


def test_an_undecodable_reply_is_transient(stub):
    server = stub(lambda seen: (200, {"Content-Type": "text/xml", "Content-Encoding": "gzip"}, b"not gzip at all"))
    with pytest.raises(TransientError) as raised:
        WpsClient(server.base_url + "/wps").submit(execute())
    assert not raised.value.unsent  # the server had the Execute


@pytest.mark.faults
def test_more_faults_in_a_row_than_any_fixed_number_of_tries_do_not_fail_the_job(wit_server):
    _, outcomes, proxy = one_job_through(wit_server, ["503", "reset_before", "html", "garbage"] * 5)
    assert outcomes[0].status == SUCCEEDED, outcomes[0].error
    assert proxy.requests["POST"] == 21


@pytest.mark.faults
def test_an_execute_that_keeps_failing_ends_at_its_deadline_naming_the_last_fault_and_the_tries(stub):
    server = stub(lambda seen: (503, {"Content-Type": "text/html"}, b"<html>busy</html>"))
    pool = dispatcher(WpsClient(server.base_url + "/wps"), RetryPolicy(base=0.005, cap=0.01), timeout=2.0)
    outcomes = list(pool.run(jobs(1)))
    tries = len(server.requests("POST"))
    assert tries > 8  # more than the fixed count of tries there once was
    assert outcomes[0].status == TIMEOUT
    assert outcomes[0].error == "not submitted within 2 s: %d tries failed, the last with HTTP 503 Service " \
        "Unavailable" % tries
    assert pool.tally.possible_duplicates == 0  # a 503 is a refusal: nothing was made


@pytest.mark.faults
def test_a_job_never_accepted_by_its_deadline_is_submitted_by_the_rerun(stub, tmp_path):
    server = stub(lambda seen: (503, {"Content-Type": "text/html"}, b"<html>busy</html>"))
    journal = Journal(tmp_path / "j.sqlite")
    todo = [Job(0, execute=b"job0", key="k0")]
    first = Dispatcher(WpsClient(server.base_url + "/wps"), 1, 1.0, Polling(), NO_WAIT, journal=journal)
    assert [o.status for o in first.run(todo)] == [TIMEOUT]
    client = ScriptedClient()
    again = Dispatcher(client, 1, 30, Polling(first=0.01, cap=0.05, finest=0.01), NO_WAIT, journal=journal)
    outcomes = list(again.run(todo))
    assert [o.status for o in outcomes] == [SUCCEEDED] and client.submitted == [b"job0"]
    assert again.tally.possible_duplicates == 0  # every earlier POST was refused: nothing was made


@pytest.mark.parametrize("status", [400, 404, 405, 422])
def test_a_client_error_on_the_execute_fails_the_job_at_once(stub, status):
    server = stub(lambda seen: (status, {"Content-Type": "text/html"}, b"<html><b>No</b> such process</html>"))
    pool = dispatcher(WpsClient(server.base_url + "/wps"))
    outcomes = list(pool.run(jobs(1)))
    assert outcomes[0].status == FAILED and outcomes[0].error.startswith("the WPS answered HTTP %d " % status)
    assert outcomes[0].error.endswith(": No such process")  # the server's words
    assert len(server.requests("POST")) == 1 and pool.tally.retries == 0


def test_a_request_timeout_answer_is_retried_without_counting_a_duplicate(stub):
    answers = [(408, {"Content-Type": "text/html"}, b"<html>timeout</html>")] * 2

    def respond(seen):
        return answers.pop(0) if answers else (200, {"Content-Type": "text/xml"},
                                               (RECORDED / "execute_accepted.xml").read_bytes())

    server = stub(respond)
    status = None
    client = WpsClient(server.base_url + "/wps")
    for _ in range(3):
        try:
            status = client.submit(execute())
        except TransientError as error:
            assert error.unsent  # the server timed out waiting for the request: it did not act on it
    assert status is not None and status.state == job_states.ACCEPTED


@pytest.mark.faults
def test_more_failed_polls_in_a_row_than_any_fixed_number_do_not_fail_the_job(wit_server):
    _, outcomes, _ = one_job_through(wit_server, [""] + ["502"] * 14)
    assert outcomes[0].status == SUCCEEDED, outcomes[0].error  # 14 failed polls in a row, then its result


@pytest.mark.faults
def test_a_job_whose_polls_never_succeed_times_out_naming_the_last_fault(stub):
    recorded = (RECORDED / "execute_accepted.xml").read_bytes()

    def respond(seen):
        if seen.method == "POST":  # accepted, its status document on this server
            return 200, {"Content-Type": "text/xml"}, recorded.replace(b"http://127.0.0.1:52223", base.encode())
        return 502, {"Content-Type": "text/html"}, b"<html>bad gateway</html>"

    server = stub(respond)
    base = server.base_url
    pool = dispatcher(WpsClient(base + "/wps"), RetryPolicy(base=0.005, cap=0.01), timeout=2.0)
    outcomes = list(pool.run(jobs(1)))
    polls = len(server.requests("GET"))
    assert polls > 10  # more than the fixed count of failed polls there once was
    assert outcomes[0].status == TIMEOUT
    assert outcomes[0].error == "no result 2 s after acceptance (last state: accepted; the last %d polls failed, " \
        "the last with HTTP 502 Bad Gateway)" % polls
