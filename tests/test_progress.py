"""The monitor line, the progress text and the summary say how long is left and how right that was."""

from wit_dispatcher.algorithms.progress import Monitor, summary
from wit_dispatcher.wit_provider.common.job_states import SUCCEEDED
from wit_dispatcher.wit_provider.dispatch.tally import Tally


class Feedback:
    def __init__(self):
        self.said, self.progress_text = [], []

    def pushInfo(self, text):
        self.said.append(("info", text))

    def pushWarning(self, text):
        self.said.append(("warning", text))

    def setProgressText(self, text):
        self.progress_text.append(text)

    def setProgress(self, value):
        pass


def test_the_monitor_line_and_progress_text_say_the_time_left():
    feedback = Feedback()
    monitor = Monitor(feedback, 86)
    tally = Tally(running=8, seconds_left=720)
    tally.counts[SUCCEEDED] = 24
    monitor(tally)
    assert feedback.said == [("info", "8 running, 24 completed, 0 failed; 0 of 86 polygons complete; "
                                      "about 12 min left")]
    assert feedback.progress_text == ["about 12 min left"]


def test_the_log_says_once_when_the_server_sets_the_pace():
    feedback = Feedback()
    monitor = Monitor(feedback, 86)
    for _ in range(3):
        monitor(Tally(running=8, server_paced=True, queued=3, refused=2))
    warnings = [text for kind, text in feedback.said if kind == "warning"]
    assert warnings == ["The server is queueing jobs (3 held in Accepted, 2 Executes refused as busy): it sets "
                        "the pace, not the 8 jobs in flight; the time left follows its throughput."]


def test_the_summary_reports_the_eta_error_at_milestones():
    tally = Tally(eta_errors={0.1: 0.04, 0.5: -0.02, 0.9: 0.11})
    text = summary({SUCCEEDED: 86}, tally, 100.0, "j.sqlite")
    assert "; 100.0 s; ETA error at 10/50/90 % of the run: +4 %, -2 %, +11 %; journal: j.sqlite" in text
