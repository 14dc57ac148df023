"""Feedback while a run goes: the progress bar, the notebook-like monitor line, the summary."""

from __future__ import annotations

import time

from qgis.PyQt.QtCore import QCoreApplication, QThread

from ..wit_provider.dispatcher import Tally

MONITOR_SECONDS = 5.0


class Monitor:
    """Progress bar = jobs finished/total; a monitor line like the original notebook's every few
    seconds, counting jobs, then how many polygons are complete."""

    def __init__(self, feedback, polygons: int, increments: int = 1):
        self.feedback = feedback
        self.polygons = polygons
        self.polygons_done = 0
        self.total = polygons * increments
        self.tally: Tally | None = None
        self.last_line = ""
        self.last_time = 0.0
        # QGIS 3.22 runs batch processing on the GUI thread: let the event loop turn there.
        app = QCoreApplication.instance()
        self.keep_gui_alive = app is not None and QThread.currentThread() == app.thread()

    def __call__(self, tally: Tally) -> None:
        if self.keep_gui_alive:
            QCoreApplication.processEvents()
        if self.total > 0:
            self.feedback.setProgress(min(100.0, 100.0 * tally.finished / self.total))
        self.tally = tally
        self._report(tally.finished >= self.total)

    def polygon_done(self) -> None:
        self.polygons_done += 1
        if self.polygons_done == self.polygons:  # skipped polygons have one job, not one per increment
            self.feedback.setProgress(100.0)
            self._report(True)

    def _report(self, now_or_never: bool) -> None:
        if self.tally is None:
            return
        line = "%s; %d of %d polygons complete" % (self.tally.monitor_line(), self.polygons_done, self.polygons)
        now = time.monotonic()
        if line != self.last_line and (now_or_never or now - self.last_time >= MONITOR_SECONDS):
            self.feedback.pushInfo(line)
            self.last_line, self.last_time = line, now


def summary(counts: dict, tally: Tally, elapsed: float, journal_path: str, increments: bool = False) -> str:
    jobs = " ({} jobs: {})".format(tally.finished, ", ".join("{} {}".format(n, s) for s, n in tally.counts.items()
                                                             if n)) if increments else ""
    return ("Summary: {}{}; {} reused from the journal; {} retries; {} possible duplicate submissions; "
            "{:.1f} s; journal: {}").format(", ".join("{} {}".format(n, s) for s, n in counts.items()), jobs,
                                             tally.reused, tally.retries, tally.possible_duplicates, elapsed,
                                             journal_path)
