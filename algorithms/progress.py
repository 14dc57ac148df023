"""Feedback while a run goes: the progress bar, the notebook-like monitor line, the summary."""

from __future__ import annotations

import time

from qgis.PyQt.QtCore import QCoreApplication, QThread

from ..wit_provider.dispatcher import Tally

MONITOR_SECONDS = 5.0


class Monitor:
    """Progress bar = finished/total; a monitor line like the original notebook's every few seconds."""

    def __init__(self, feedback, total: int):
        self.feedback = feedback
        self.total = total
        self.last_line = ""
        self.last_time = 0.0
        # QGIS 3.22 runs batch processing on the GUI thread: let the event loop turn there.
        app = QCoreApplication.instance()
        self.keep_gui_alive = app is not None and QThread.currentThread() == app.thread()

    def __call__(self, tally: Tally) -> None:
        if self.keep_gui_alive:
            QCoreApplication.processEvents()
        if self.total > 0:
            self.feedback.setProgress(100.0 * tally.finished / self.total)
        line = tally.monitor_line()
        now = time.monotonic()
        if line != self.last_line and (now - self.last_time >= MONITOR_SECONDS or tally.finished == self.total):
            self.feedback.pushInfo(line)
            self.last_line, self.last_time = line, now


def summary(counts: dict, tally: Tally, elapsed: float, journal_path: str) -> str:
    return ("Summary: {}; {} reused from the journal; {} retries; {} possible duplicate submissions; "
            "{:.1f} s; journal: {}").format(", ".join("{} {}".format(n, s) for s, n in counts.items()),
                                             tally.reused, tally.retries, tally.possible_duplicates, elapsed,
                                             journal_path)
