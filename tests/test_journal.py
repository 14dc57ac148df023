"""The journal on its own and as the dispatcher uses it: reuse, resume, dedupe, bad files."""

import sqlite3
import threading
from datetime import datetime

import pytest
from test_dispatcher import NO_WAIT, ScriptedClient, fast
from wit_dispatcher.wit_provider.common.job_states import ACCEPTED, CANCELLED, FAILED, SUBMITTING, SUCCEEDED, TIMEOUT
from wit_dispatcher.wit_provider.dispatch.dispatcher import Dispatcher
from wit_dispatcher.wit_provider.dispatch.jobs import Job
from wit_dispatcher.wit_provider.dispatch.journal import Journal, JournalError, JournalInUse, job_key


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
    journal.close()
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
    journal.record_submission("a")
    journal.record_accepted("a", "a")
    client = ScriptedClient()
    client.poll_count[b"a"] = 0
    client.in_flight = 1
    _, outcomes = run(client, journal, ["a"])
    assert client.submitted == []
    assert outcomes[0].status == SUCCEEDED and outcomes[0].url == "s3://b/wit/a"


def test_timed_out_jobs_are_polled_again(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    journal.record_submission("a")
    journal.record_accepted("a", "a")
    journal.record_finished("a", TIMEOUT, error="no result")
    client = ScriptedClient()
    client.poll_count[b"a"] = 0
    client.in_flight = 1
    _, outcomes = run(client, journal, ["a"])
    assert client.submitted == [] and outcomes[0].status == SUCCEEDED


def test_unanswered_submission_is_resubmitted_and_counted(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    journal.record_submission("a")  # the run died between the POST and its reply
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
            journal.record_submission(key)
            journal.record_accepted(key, "loc-" + key)
            journal.record_finished(key, SUCCEEDED, url="s3://" + key)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert journal.lookup("15-49").url == "s3://15-49"
    journal.close()
    assert Journal(tmp_path / "j.sqlite").counts() == {SUCCEEDED: 800}


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


def folder_state(folder) -> dict:
    """Every file in ``folder`` with its bytes: a refused file and its surroundings must not change."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def foreign_database(path, *statements):
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


def test_journal_of_another_application(tmp_path):
    path = tmp_path / "j.sqlite"
    foreign_database(path, "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                     "INSERT INTO meta VALUES ('application', 'something-else')")
    before = folder_state(tmp_path)
    with pytest.raises(JournalError, match="is not a WIT Dispatcher journal"):
        Journal(path)
    assert folder_state(tmp_path) == before  # not switched to WAL, no tables, no -wal/-shm/lock files


@pytest.mark.parametrize("statements", [
    ["CREATE TABLE meta (name TEXT, size INTEGER)", "INSERT INTO meta VALUES ('a', 1)"],
    ["CREATE TABLE meta (key TEXT, value TEXT)"],
    ["CREATE TABLE meta (key TEXT, value TEXT)", "CREATE TABLE lakes (id INTEGER)",
     "INSERT INTO meta VALUES ('application', 'wit-dispatcher-journal'), ('version', '0')"],
    ["CREATE TABLE lakes (id INTEGER)"],
])
def test_a_refused_file_is_left_untouched(tmp_path, statements):
    path = tmp_path / "mine.sqlite"
    foreign_database(path, *statements)
    before = folder_state(tmp_path)
    with pytest.raises(JournalError):
        Journal(path)
    assert folder_state(tmp_path) == before


def test_a_failed_write_is_rolled_back_and_the_next_one_works(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
    journal._db.execute("PRAGMA max_page_count = %d" % pages)  # the disk is full from now on
    with pytest.raises(JournalError, match="could not be written: database or disk is full"):
        for i in range(1000):
            journal.record_submission("%064d" % i)
    journal._db.execute("PRAGMA max_page_count = 1000000")  # space again
    journal.record_submission("after")
    assert journal.lookup("after").state == SUBMITTING


def test_one_run_at_a_time_holds_a_journal(tmp_path):
    first = Journal(tmp_path / "j.sqlite")
    with pytest.raises(JournalInUse, match="is in use by another run"):
        Journal(tmp_path / "j.sqlite")
    first.close()
    Journal(tmp_path / "j.sqlite").close()
    assert not (tmp_path / "j.sqlite.lock").exists()


def test_the_runs_end_is_remembered(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    assert journal.remembered_end() is None
    journal.remember_end(datetime(2026, 11, 29, 7, 52, 41))
    journal.close()
    assert Journal(tmp_path / "j.sqlite").remembered_end() == datetime(2026, 11, 29, 7, 52)


def test_key_and_request_agree_on_minutes():
    base = ("https://h/wps", "WIT", '{"g":1}', datetime(2010, 1, 1))
    assert job_key(*base, datetime(2026, 11, 29, 7, 52, 1)) == job_key(*base, datetime(2026, 11, 29, 7, 52, 59))
    assert job_key(*base, datetime(2026, 11, 29, 7, 52)) != job_key(*base, datetime(2026, 11, 29, 7, 53))


def test_states_written_before_and_after_the_post(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    assert journal.record_submission("a") is False
    assert journal.lookup("a").state == SUBMITTING
    journal.record_accepted("a", "http://status/a")
    assert journal.lookup("a").state == ACCEPTED
    assert journal.record_submission("b") is False and journal.record_submission("b") is True


def test_a_journal_that_cannot_be_written_stops_the_run_instead_of_hanging(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    journal._db.execute("PRAGMA max_page_count = %d" % journal._db.execute("PRAGMA page_count").fetchone()[0])
    dispatcher = Dispatcher(ScriptedClient(), 4, 30, fast(), NO_WAIT, journal=journal)
    outcomes = []
    runner = threading.Thread(target=lambda: outcomes.extend(dispatcher.run(keyed_jobs(["%064d" % i for i in
                                                                                         range(200)]))))
    runner.start()
    runner.join(timeout=120)
    assert not runner.is_alive(), "the run hung after a failed journal write"
    assert "could not be written: database or disk is full" in dispatcher.stopped_because
    assert outcomes and len(outcomes) < 200  # it stopped reading jobs
    assert {o.status for o in outcomes} <= {SUCCEEDED, CANCELLED} and CANCELLED in {o.status for o in outcomes}
