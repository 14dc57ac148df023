"""Feedback while a run goes: the progress bar and its text (the time left), the notebook-like
monitor line, the note that the server sets the pace, the summary."""

from __future__ import annotations

import time

from qgis.PyQt.QtCore import QCoreApplication, QThread

from ..wit_provider.dispatch.forecast import MILESTONES, seconds_left_text
from ..wit_provider.dispatch.tally import Tally

MONITOR_SECONDS = 5.0


class Monitor:
    """Progress bar = jobs finished/total, its text the time left; a monitor line like the original
    notebook's every few seconds, counting jobs, then how many polygons are complete and the time left."""

    def __init__(self, feedback, polygons: int, increments: int = 1):
        self.feedback = feedback
        self.polygons = polygons
        self.polygons_done = 0
        self.total = polygons * increments
        self.tally: Tally | None = None
        self.last_line = ""
        self.last_time = 0.0
        self.left_text = ""
        self.paced = False
        # QGIS 3.22 runs batch processing on the GUI thread: let the event loop turn there.
        app = QCoreApplication.instance()
        self.keep_gui_alive = app is not None and QThread.currentThread() == app.thread()

    def __call__(self, tally: Tally) -> None:
        if self.keep_gui_alive:
            QCoreApplication.processEvents()
        if self.total > 0:
            self.feedback.setProgress(min(100.0, 100.0 * tally.finished / self.total))
        self.tally = tally
        if tally.server_paced and not self.paced:
            self.feedback.pushWarning(
                "The server is queueing jobs ({} held in Accepted, {} Executes refused as busy): it sets the pace, "
                "not the {} jobs in flight; the time left follows its throughput.".format(
                    tally.queued, tally.refused, tally.running))
        self.paced = tally.server_paced
        self._report(tally.finished >= self.total)

    def polygon_done(self) -> None:
        self.polygons_done += 1
        if self.polygons_done == self.polygons:  # skipped polygons have one job, not one per increment
            self.feedback.setProgress(100.0)
            self._report(True)

    def _report(self, now_or_never: bool) -> None:
        if self.tally is None:
            return
        tally = self.tally
        left = seconds_left_text(tally.seconds_left) if tally.seconds_left and tally.finished < self.total else ""
        line = "%s; %d of %d polygons complete" % (tally.monitor_line(), self.polygons_done, self.polygons)
        now = time.monotonic()
        if line + left != self.last_line and (now_or_never or now - self.last_time >= MONITOR_SECONDS):
            if left != self.left_text:  # qgis_process prints each progress text as a line of its own
                self.feedback.setProgressText(left)
                self.left_text = left
            self.feedback.pushInfo(line + ("; " + left if left else ""))
            self.last_line, self.last_time = line + left, now


def summary(counts: dict, tally: Tally, elapsed: float, journal_path: str, increments: bool = False) -> str:
    jobs = " ({} jobs: {})".format(tally.finished, ", ".join("{} {}".format(n, s) for s, n in tally.counts.items()
                                                             if n)) if increments else ""
    return ("Summary: {}{}; {} reused from the journal; {} retries; {} possible duplicate submissions; "
            "{:.1f} s{}; journal: {}").format(", ".join("{} {}".format(n, s) for s, n in counts.items()), jobs,
                                             tally.reused, tally.retries, tally.possible_duplicates, elapsed,
                                             _eta_errors(tally.eta_errors), journal_path)


def _eta_errors(errors: dict) -> str:
    """'; ETA error at 10/50/90 % of the run: +4 %, -2 %, +11 %', each (predicted - actual end) / time
    that was left then: positive said too late, negative too early."""
    if not errors:
        return ""
    fractions = [f for f in MILESTONES if f in errors]
    return "; ETA error at {} % of the run: {}".format("/".join("%.0f" % (100 * f) for f in fractions),
                                                        ", ".join("%+.0f %%" % (100 * errors[f]) for f in fractions))
