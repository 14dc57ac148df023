"""Ctrl-C and SIGTERM under qgis_process become a cancel, so the output and journal are written.

Signal handlers can only be set from the main thread, which is where qgis_process runs
algorithms; in the desktop the toolbox's Cancel button does the same job.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interruption:
    """What stopped the run, if a signal did."""

    signal_name = ""


@contextmanager
def interrupts_as_cancel(feedback):
    """Within the block, SIGINT/SIGTERM cancel ``feedback`` instead of killing the process."""
    interruption = Interruption()
    if threading.current_thread() is not threading.main_thread():
        yield interruption
        return
    previous = {number: signal.getsignal(number) for number in _SIGNALS}

    def cancel(number, frame):
        interruption.signal_name = signal.Signals(number).name
        feedback.pushWarning("Interrupted (%s): stopping and writing what is done." % interruption.signal_name)
        feedback.cancel()

    for number in _SIGNALS:
        signal.signal(number, cancel)
    try:
        yield interruption
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
