"""The journal on its own and as the dispatcher uses it: reuse, resume, dedupe, bad files."""

import sqlite3
import threading
from datetime import datetime

import pytest
from test_dispatcher import NO_WAIT, ScriptedClient, fast
from wit_dispatcher.wit_provider.dispatcher import FAILED, SUCCEEDED, TIMEOUT, Dispatcher, Job
from wit_dispatcher.wit_provider.journal import ACCEPTED, SUBMITTING, Journal, JournalError, job_key


def keyed_jobs(keys):
    return [Job(i, execute=key.encode(), key=key) for i, key in enumerate(keys)]


def run(client, journal, keys, **options):
    dispatcher = Dispatcher(client, 3, 30, fast(), NO_WAIT, journal=journal, **options)
    return dispatcher, list(dispatcher.run(keyed_jobs(keys)))


def test_job_key_changes_with_geometry_and_interval():
    base = ("https://h/wps", "WIT", '{"g":1}', datetime(2010, 1, 1), datetime(2011, 1, 1))
    assert job_key(*base) == job_key(*base)
    assert job_key(*base) != job_key(base[0], base[1], '{"g":2}', *base[3:])
    assert job_key(*base) != job_key(*base[:4], datetime(2012, 1, 1))
    assert job_key(*base) != job_key("https://other/wps", *base[1:])


def test_every_state_change_is_recorded(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    client = ScriptedClient(plans={b"b": {"fail": "Process error: no data"}})
    run(client, journal, ["a", "b"])
    assert journal.lookup("a").state == SUCCEEDED and journal.lookup("a").url == "s3://b/wit/a"
    assert journal.lookup("a").status_location == "a"
    assert journal.lookup("b").state == FAILED and journal.lookup("b").error == "Process error: no data"
    reopened = Journal(tmp_path / "j.sqlite")
    assert reopened.counts() == {SUCCEEDED: 1, FAILED: 1}


def test_rerun_reuses_results_and_submits_nothing(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    run(ScriptedClient(plans={b"b": {"fail": "no data"}}), journal, ["a", "b"])
    again = ScriptedClient()
    dispatcher, outcomes = run(again, journal, ["a", "b"])
    assert again.submitted == []
    assert [o.status for o in outcomes] == [SUCCEEDED, FAILED]
    assert dispatcher.tally.reused == 2


def test_retry_failed_resubmits_only_failures(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    run(ScriptedClient(plans={b"b": {"fail": "no data"}}), journal, ["a", "b"])
    again = ScriptedClient()
    _, outcomes = run(again, journal, ["a", "b"], retry_failed=True)
    assert again.submitted == [b"b"]
    assert [o.status for o in outcomes] == [SUCCEEDED, SUCCEEDED]


def test_accepted_jobs_are_polled_not_resubmitted(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    journal.submitting("a")
    journal.accepted("a", "a")
    client = ScriptedClient()
    client.poll_count[b"a"] = 0
    client.in_flight = 1
    _, outcomes = run(client, journal, ["a"])
    assert client.submitted == []
    assert outcomes[0].status == SUCCEEDED and outcomes[0].url == "s3://b/wit/a"


def test_timed_out_jobs_are_polled_again(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    journal.submitting("a")
    journal.accepted("a", "a")
    journal.finished("a", TIMEOUT, error="no result")
    client = ScriptedClient()
    client.poll_count[b"a"] = 0
    client.in_flight = 1
    _, outcomes = run(client, journal, ["a"])
    assert client.submitted == [] and outcomes[0].status == SUCCEEDED


def test_unanswered_submission_is_resubmitted_and_counted(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    journal.submitting("a")  # the run died between the POST and its reply
    client = ScriptedClient()
    dispatcher, outcomes = run(client, journal, ["a"])
    assert client.submitted == [b"a"] and outcomes[0].status == SUCCEEDED
    assert dispatcher.tally.possible_duplicates == 1


def test_identical_polygons_are_dispatched_once(tmp_path):
    client = ScriptedClient(polls=3)
    dispatcher, outcomes = run(client, Journal(tmp_path / "j.sqlite"), ["a", "b", "a", "a", "c", "b"])
    assert sorted(client.submitted) == [b"a", b"b", b"c"]
    assert [o.url for o in outcomes] == ["s3://b/wit/%s" % k for k in ["a", "b", "a", "a", "c", "b"]]
    assert [o.index for o in outcomes] == list(range(6))


def test_concurrent_writes_from_many_threads(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")

    def write(thread):
        for i in range(50):
            key = "%d-%d" % (thread, i)
            journal.submitting(key)
            journal.accepted(key, "loc-" + key)
            journal.finished(key, SUCCEEDED, url="s3://" + key)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Journal(tmp_path / "j.sqlite").counts() == {SUCCEEDED: 800}
    assert journal.lookup("15-49").url == "s3://15-49"


def test_corrupted_journal_is_a_clear_error(tmp_path):
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"this is not a database, just some text that was here before" * 100)
    with pytest.raises(JournalError, match="is not an SQLite file"):
        Journal(path)


def test_foreign_database_is_a_clear_error(tmp_path):
    path = tmp_path / "other.gpkg"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE lakes (id INTEGER)")
    with pytest.raises(JournalError, match="SQLite database of something else \\(tables: lakes\\)"):
        Journal(path)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("lakes",)]


def test_journal_of_another_application(tmp_path):
    path = tmp_path / "j.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('application', 'something-else')")
    with pytest.raises(JournalError, match="is not a WIT Dispatcher journal"):
        Journal(path)


def test_states_written_before_and_after_the_post(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    assert journal.submitting("a") is False
    assert journal.lookup("a").state == SUBMITTING
    journal.accepted("a", "http://status/a")
    assert journal.lookup("a").state == ACCEPTED
    assert journal.submitting("b") is False and journal.submitting("b") is True
