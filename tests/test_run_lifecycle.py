"""A run from its first check to its last write: the default END, the journal's place and
lifetime, a journal that cannot be written, and the order in which a run closes."""

import re
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest
from fault_proxy import FaultProxy
from qgis.core import QgsApplication, QgsProcessingException
from qgis_helpers import RecordingFeedback
from test_algorithm import START, dispatch
from test_network import lakes
from test_qgis_process import read_gpkg
from wit_dispatcher.algorithms import dispatch_wit
from wit_dispatcher.wit_provider.dispatch.journal import Journal

from tools.qgis import prepare_profile, qgis_process_command


def journal_states(path) -> dict:
    with sqlite3.connect("file:%s?mode=ro" % path, uri=True) as db:
        return dict(db.execute("SELECT job_key, state FROM jobs"))


# END left at its default.

def test_a_rerun_without_end_resumes_the_journals_run_whatever_the_date(qgis_app, fresh_server, tmp_path):
    server = fresh_server(job_seconds=0.05)
    journal = str(tmp_path / "j.sqlite")
    first = dispatch(lakes(3), server.wps_url, JOURNAL=journal, END="2015-06-30T00:00:00")
    feedback = RecordingFeedback()
    again = dispatch(lakes(3), server.wps_url, feedback, JOURNAL=journal, END=None)
    assert (first["SUCCEEDED"], again["REUSED"]) == (3, 3)
    assert len(server.received()) == 3
    assert "END not given: resuming this journal's run, which ends 2015-06-30 00:00; give END to extend it." \
        in feedback.infos


def test_a_new_journal_without_end_runs_up_to_now_and_a_rerun_keeps_that_end(qgis_app, fresh_server, tmp_path):
    server = fresh_server(job_seconds=0.05)
    journal = str(tmp_path / "j.sqlite")
    feedback = RecordingFeedback()
    dispatch(lakes(2), server.wps_url, feedback, JOURNAL=journal, END=None)
    now = [line for line in feedback.infos if line.startswith("END not given: up to now")]
    assert len(now) == 1
    sent_end = {job["end"] for job in server.received()}
    assert len(sent_end) == 1 and sent_end.pop()[:16].replace("T", " ") in now[0]
    again = dispatch(lakes(2), server.wps_url, JOURNAL=journal, END=None)
    assert again["REUSED"] == 2 and len(server.received()) == 2


def test_a_run_that_never_started_pins_no_end(qgis_app, wit_server, tmp_path):
    journal = tmp_path / "j.sqlite"
    with pytest.raises(QgsProcessingException, match="does not offer a process 'NOPE'"):
        dispatch(lakes(1), wit_server.wps_url, JOURNAL=str(journal), END=None, PROCESS="NOPE")
    assert Journal(journal).remembered_end() is None  # the next run without END runs up to its own now


# A malformed URL is a message, not a traceback.

@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    return prepare_profile(tmp_path_factory.mktemp("qgis-config"))


def qgis_process(env, *arguments):
    return subprocess.run(qgis_process_command() + ["run", "wit:dispatchwit", "--", *arguments], env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_malformed_wps_url_is_named(profile, canberra_zip, tmp_path):
    run = qgis_process(profile, "INPUT=%s" % canberra_zip, "WPS_URL=http://127.0.0.1:80a/wps",
                       "OUTPUT=%s" % (tmp_path / "out.gpkg"))
    assert run.returncode != 0
    assert "WPS_URL 'http://127.0.0.1:80a/wps' has a port '80a' that is not a number." in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr


# Temporary outputs keep their journal in the profile, one per input, found by a later session.

def journal_of(output: str) -> str:
    return re.search(r"^JOURNAL:\s+(.+)$", output, re.MULTILINE).group(1).strip()


@pytest.mark.slow
def test_temporary_outputs_resume_in_a_later_session(profile, fresh_server, canberra_zip, tmp_path):
    server = fresh_server(job_seconds=0.05)
    lake = tmp_path / "lake.geojson"
    lake.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":'
                    '{"type":"Polygon","coordinates":[[[149,-35],[149.01,-35],[149.01,-35.01],[149,-35]]]}}]}')
    runs = [qgis_process(profile, "INPUT=%s" % layer, "WPS_URL=%s" % server.wps_url, "START=%s" % START,
                         "MAX_CONCURRENT=8", "OUTPUT=TEMPORARY_OUTPUT") for layer in (canberra_zip, lake, canberra_zip)]
    assert [run.returncode for run in runs] == [0, 0, 0], runs[0].stdout + runs[0].stderr
    journals = [journal_of(run.stdout) for run in runs]
    profile_dir = Path(profile["QGIS_CUSTOM_CONFIG_PATH"])
    assert all(Path(path).is_relative_to(profile_dir) for path in journals)
    assert Path(journals[0]).name.startswith("waterbodies_canberra-")
    assert journals[0] == journals[2] != journals[1]  # one journal per input, found again by a new session
    assert re.search(r"REUSED:\s+86\b", runs[2].stdout)
    assert len(server.received()) == 87


def test_a_second_run_at_once_takes_its_own_journal(qgis_app, fresh_server):
    server = fresh_server(job_seconds=0.05)
    layer = lakes(1)
    first = dispatch(layer, server.wps_url)
    holder = Journal(first["JOURNAL"])  # as if that run were still going
    try:
        second = dispatch(layer, server.wps_url)
    finally:
        holder.close()
    assert Path(first["JOURNAL"]).is_relative_to(QgsApplication.qgisSettingsDirPath())
    assert second["JOURNAL"] == first["JOURNAL"].replace(".wit-journal.sqlite", "-2.wit-journal.sqlite")


# A journal that cannot be written stops the run cleanly.

class FullDiskJournal(Journal):
    """A real journal on a disk that fills up after its first few pages."""

    def __init__(self, path):
        super().__init__(path)
        self._db.execute("PRAGMA max_page_count = %d" % (self._db.execute("PRAGMA page_count").fetchone()[0] + 1))


def test_a_journal_that_cannot_be_written_stops_the_run_with_a_message(qgis_app, fresh_server, canberra_zip,
                                                                        tmp_path, monkeypatch):
    monkeypatch.setattr(dispatch_wit, "Journal", FullDiskJournal)
    server = fresh_server(job_seconds=0.05)
    output = tmp_path / "out.gpkg"
    with pytest.raises(QgsProcessingException, match="The run stopped: JOURNAL '.*' could not be written: "
                                                     "database or disk is full"):
        dispatch(str(canberra_zip), server.wps_url, OUTPUT=str(output), JOURNAL=str(tmp_path / "j.sqlite"))
    statuses = [row[2] for row in read_gpkg(output)]
    assert len(statuses) == 86 and "cancelled" in statuses


# The run closes in order: workers first, then the journal.

def test_replies_on_the_wire_at_cancel_are_journaled_before_the_journal_closes(qgis_app, fresh_server,
                                                                                tmp_path):
    server = fresh_server(job_seconds=60)
    slow = FaultProxy(server.base_url, rate=1.0, faults=("slow",), slow_seconds=0.2)

    class CancelOnceAllFourArePosted(RecordingFeedback):
        def isCanceled(self):
            return slow.requests["POST"] >= 4

    crashes = []
    previous_hook = threading.excepthook
    threading.excepthook = crashes.append
    journal = tmp_path / "j.sqlite"
    try:  # every feature is read before the cancel, so the outcomes end without being drained to the end
        result = dispatch(lakes(4), slow.url(server.wps_url), CancelOnceAllFourArePosted(), MAX_CONCURRENT=4,
                          JOURNAL=str(journal))
    finally:
        threading.excepthook = previous_hook
        slow.stop()
    assert result["CANCELLED"] == 4 and slow.requests["POST"] == 4
    assert not crashes, [str(c.exc_value) for c in crashes]
    assert not [t for t in threading.enumerate() if t.name.startswith("wit-worker") and t.is_alive()]
    assert sorted(journal_states(journal).values()) == ["accepted"] * 4  # none left "submitting"
