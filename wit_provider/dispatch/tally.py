"""The run's accounting: what the progress bar, the monitor line and the summary report."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..common.job_states import CANCELLED, FAILED, OUTCOMES, SKIPPED, SUCCEEDED, TIMEOUT
from .forecast import Forecast


@dataclass
class Tally:
    """Counts of the run so far, for the progress bar, the monitor line and the summary.

    ``seconds_left`` is None while nothing is known of job times; ``eta_errors`` holds,
    once the run is over, how far off the time left was at 10, 50 and 90 % of its jobs.
    """

    running: int = 0
    reused: int = 0
    retries: int = 0
    possible_duplicates: int = 0
    counts: dict = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    seconds_left: float | None = None
    server_paced: bool = False
    queued: int = 0
    refused: int = 0
    eta_errors: dict = field(default_factory=dict)

    @property
    def finished(self) -> int:
        return sum(self.counts.values())

    def monitor_line(self) -> str:
        extra = ", ".join("%d %s" % (self.counts[s], s) for s in (SKIPPED, TIMEOUT, CANCELLED) if self.counts[s])
        line = "%d running, %d completed, %d failed" % (self.running, self.counts[SUCCEEDED], self.counts[FAILED])
        return line + (", " + extra if extra else "")

    def forecast_from(self, forecast: Forecast, now: float) -> None:
        """Take the time left, and what the server's queue is doing, from ``forecast``."""
        self.seconds_left = forecast.seconds_left(now)
        self.server_paced = forecast.server_paced(now)
        self.queued, self.refused = forecast.queued, forecast.refused
