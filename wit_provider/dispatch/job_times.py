"""How long a job takes on one server and process: a model learned across runs.

No QGIS. WIT's cost grows with the polygon's area and the years in its interval, so
``ln(seconds)`` is fitted as a linear function of ``ln(area)`` and ``ln(years)``
(least squares with a small ridge, so constant features just give the mean). The
model is kept honest by its own errors: each finished job is first predicted, then
learned, and the residual (``ln(observed / predicted)``) goes into a histogram
whose quantiles widen or narrow every prediction. The median of all durations,
with its own residuals, stands in while there are few samples or when it has
predicted better than the fit. Old samples fade (``decay``), so a server that
changes speed is followed.

Only aggregate statistics are kept (sums of the fit and histograms of log
durations and residuals): nothing that tells which polygons were sent.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

VERSION = 1
MIN_SAMPLES = 3  # fewer finished jobs: no prediction (the run's own polling learns meanwhile)
FIT_SAMPLES = 8  # fewer: the median of durations, not the fit
RIDGE = 0.01  # in ln units squared: slopes of features that barely vary stay near zero
BIN = 0.005  # histogram bin width in ln units (0.5 %)
MIN_AREA_KM2 = 1e-6
MIN_YEARS = 1 / 365
PRECISION = 0.05  # a job whose end is known to within 5 % of its time counts fully
SPREAD_POINTS = 20  # an interval is spread over at most this many points of a histogram
QUICKEST = 0.5  # a job last seen unfinished long before took at least this share of its time


@dataclass(frozen=True)
class Workload:
    """What drives a job's cost: the polygon's area and its interval's length."""

    area_km2: float
    years: float


@dataclass(frozen=True)
class Prediction:
    """Seconds a job is expected to take: rarely less than ``early``, typically ``likely``,
    rarely more than ``late`` (the 20th, 50th and 90th percentiles of the residuals seen)."""

    early: float
    likely: float
    late: float


def model_key(wps_url: str, process: str) -> str:
    """Scheme, host and port of the WPS plus the process: never user info, path or query,
    which may carry tokens."""
    parts = urlsplit(wps_url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower(), 0)
    return "%s://%s:%d %s" % (parts.scheme.lower(), (parts.hostname or "").lower(), port, process)


class _Histogram:
    """Weighted counts of values in bins of ``BIN``, sparse, fading with the model."""

    def __init__(self, bins: dict | None = None):
        self.bins: dict[int, float] = {int(k): float(v) for k, v in (bins or {}).items()}
        self._quantiles: dict[float, float] = {}  # asked often between changes

    def add(self, low: float, high: float, weight: float = 1.0) -> None:
        """Add ``weight`` spread evenly over [low, high]: a value known only to lie there."""
        points = max(1, min(SPREAD_POINTS, math.ceil((high - low) / BIN)))
        for point in range(points):
            index = math.floor((low + (point + 0.5) * (high - low) / points) / BIN)
            self.bins[index] = self.bins.get(index, 0.0) + weight / points
        self._quantiles.clear()

    def fade(self, decay: float) -> None:
        for index in list(self.bins):
            self.bins[index] *= decay
            if self.bins[index] < 1e-4:
                del self.bins[index]
        self._quantiles.clear()

    @property
    def weight(self) -> float:
        return sum(self.bins.values())

    def quantile(self, q: float) -> float:
        if q not in self._quantiles:
            self._quantiles[q] = self._quantile(q)
        return self._quantiles[q]

    def _quantile(self, q: float) -> float:
        total = self.weight
        target, seen = q * total, 0.0
        for index in sorted(self.bins):
            count = self.bins[index]
            if seen + count >= target:
                return (index + (target - seen) / count) * BIN
            seen += count
        return (max(self.bins) + 1) * BIN

    def spread(self) -> float:
        return self.quantile(0.9) - self.quantile(0.1)


class JobTimes:
    """The model for one server and process; thread-safe (the workers of a run share it)."""

    def __init__(self, state: dict | None = None, decay: float = 0.998):
        state = state or {}
        self.decay = decay
        self.samples = int(state.get("samples", 0))
        fit = state.get("fit", {})
        self._w = float(fit.get("w", 0.0))
        self._sx = list(fit.get("sx", [0.0, 0.0]))
        self._sy = float(fit.get("sy", 0.0))
        self._sxx = [list(row) for row in fit.get("sxx", [[0.0, 0.0], [0.0, 0.0]])]
        self._sxy = list(fit.get("sxy", [0.0, 0.0]))
        self._durations = _Histogram(state.get("durations"))
        self._fit_residuals = _Histogram(state.get("fit_residuals"))
        self._median_residuals = _Histogram(state.get("median_residuals"))
        if not self._durations.bins:  # a damaged state: its counts mean nothing without durations
            self.samples = 0
        self._lock = threading.Lock()

    def state(self) -> dict:
        """Everything the model keeps, as JSON-ready aggregates."""
        with self._lock:
            return {"version": VERSION, "samples": self.samples,
                    "fit": {"w": self._w, "sx": self._sx, "sy": self._sy, "sxx": self._sxx, "sxy": self._sxy},
                    "durations": dict(self._durations.bins), "fit_residuals": dict(self._fit_residuals.bins),
                    "median_residuals": dict(self._median_residuals.bins)}

    def predict(self, workload: Workload | None) -> Prediction | None:
        """None until the model has seen ``MIN_SAMPLES`` jobs."""
        with self._lock:
            return self._predict(workload)

    def observe(self, workload: Workload | None, seconds: float, running_at: float | None = None) -> None:
        """Learn one finished job, seen finished at ``seconds`` and last seen unfinished at
        ``running_at`` (None: it took exactly ``seconds``).

        Its residuals are taken first (predicted before it is learned), then its time.
        What is known is an interval, and it is learned as one: spread evenly over the
        histograms, so polls far apart widen the predictions and the next jobs are
        polled densely enough to be seen ending closely. It is also weighted by how
        closely the polls bracket its end (fully within ``PRECISION`` of its time): a
        job found finished after a long sleep must not count as much as one seen
        ending to the second. A job last seen unfinished before ``QUICKEST`` of the time
        it was found finished at (or never) is taken to have run at least that long, or
        as long as the quickest job the model remembers if that is less (failed jobs are
        not learned); if it was quicker still, the next prediction, shorter, finds out.
        """
        if not (math.isfinite(seconds) and seconds > 0):
            return
        with self._lock:
            if running_at is None or not math.isfinite(running_at):
                running_at = seconds
            elif running_at < seconds * QUICKEST:  # last seen unfinished long before: no quicker than the quickest
                quickest = math.exp(self._durations.quantile(0.0)) if self.samples else seconds
                running_at = max(running_at, min(seconds * QUICKEST, quickest))
            running_at = min(running_at, seconds)
            low, high = math.log(running_at), math.log(seconds)
            y = (low + high) / 2
            bracket = seconds - running_at
            weight = min(1.0, PRECISION * math.exp(y) / bracket) if bracket > 0 else 1.0
            if self.samples >= FIT_SAMPLES and workload is not None:
                fitted = self._fit(_features(workload))
                self._fit_residuals.fade(self.decay)
                self._fit_residuals.add(low - fitted, high - fitted, weight)
            if self.samples >= 1:
                median = self._durations.quantile(0.5)
                self._median_residuals.fade(self.decay)
                self._median_residuals.add(low - median, high - median, weight)
            self._durations.fade(self.decay)
            self._durations.add(low, high, weight)
            self.samples += 1
            if workload is not None:
                self._learn(_features(workload), y, weight)

    def _predict(self, workload: Workload | None) -> Prediction | None:
        if self.samples < MIN_SAMPLES:
            return None
        center, residuals = self._durations.quantile(0.5), self._median_residuals
        if (workload is not None and self.samples >= FIT_SAMPLES and self._fit_residuals.weight >= 3
                and self._fit_residuals.spread() <= residuals.spread()):
            # never beyond the times seen: a job predicted too long is caught late, one too short costs polls
            low, high = self._durations.quantile(0.0), self._durations.quantile(1.0)
            center, residuals = min(high, max(low, self._fit(_features(workload)))), self._fit_residuals
        if residuals.weight < 1:
            return Prediction(*(math.exp(center),) * 3)
        return Prediction(*(math.exp(center + residuals.quantile(q)) for q in (0.2, 0.5, 0.9)))

    def _learn(self, x: tuple[float, float], y: float, weight: float) -> None:
        d = self.decay
        self._w = self._w * d + weight
        self._sy = self._sy * d + weight * y
        for i in range(2):
            self._sx[i] = self._sx[i] * d + weight * x[i]
            self._sxy[i] = self._sxy[i] * d + weight * x[i] * y
            for j in range(2):
                self._sxx[i][j] = self._sxx[i][j] * d + weight * x[i] * x[j]

    def _fit(self, x: tuple[float, float]) -> float:
        """ln(seconds) the least-squares fit gives for features ``x``."""
        w = self._w
        if w <= 0:
            return self._durations.quantile(0.5)
        mx = [s / w for s in self._sx]
        my = self._sy / w
        c = [[self._sxx[i][j] / w - mx[i] * mx[j] + (RIDGE if i == j else 0.0) for j in range(2)] for i in range(2)]
        v = [self._sxy[i] / w - mx[i] * my for i in range(2)]
        det = c[0][0] * c[1][1] - c[0][1] * c[1][0]
        slopes = ((c[1][1] * v[0] - c[0][1] * v[1]) / det, (c[0][0] * v[1] - c[1][0] * v[0]) / det)
        return my + sum(b * (xi - m) for b, xi, m in zip(slopes, x, mx))


def _features(workload: Workload) -> tuple[float, float]:
    return math.log(max(workload.area_km2, MIN_AREA_KM2)), math.log(max(workload.years, MIN_YEARS))


ABANDONED_SECONDS = 3600  # a temporary model file this old belongs to no run that is still saving


class JobTimesFile:
    """The models of every server and process in one small JSON file (the algorithm puts it
    in the QGIS profile). Unreadable or of another version: start cold, never fail a run."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def load(self, key: str) -> JobTimes:
        state = self._read().get(key)
        try:
            model = JobTimes(state if state and state.get("version") == VERSION else None)
            model.predict(None)  # a hand-edited or damaged model fails here, not in every job
            return model
        except (ValueError, TypeError, AttributeError, KeyError, IndexError, ZeroDivisionError):
            return JobTimes()

    def save(self, key: str, model: JobTimes) -> None:
        """Replace this key's model, keep the others; written whole and renamed into place.

        Runs that save at once each rename a whole file: the last one's wins, and a model another
        run saved in between is learned again by its next run.

        A model of fewer than ``FIT_SAMPLES`` jobs is not saved: its sums would be close
        to one polygon's area.
        """
        if model.samples < FIT_SAMPLES:
            return
        models = self._read()
        models[key] = model.state()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A temporary file of this writer's own: two runs saving at once never write into one
        # file, so each rename puts a whole model in place and the last writer's wins.
        self._remove_abandoned()
        handle, temporary = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            os.chmod(temporary, self._mode())  # mkstemp's 0600 would make the model private
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(json.dumps({"version": VERSION, "models": models}))
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _mode(self) -> int:
        """The saved file's permissions: the old file's, else those of a file the user writes."""
        try:
            return self.path.stat().st_mode & 0o777
        except OSError:
            return 0o644

    def _remove_abandoned(self) -> None:
        """Temporary files of runs killed while saving: older than any save takes."""
        cutoff = time.time() - ABANDONED_SECONDS
        for temporary in self.path.parent.glob(self.path.name + ".*.tmp"):
            try:
                if temporary.stat().st_mtime < cutoff:
                    temporary.unlink()
            except OSError:
                pass  # another run removed it, or it is not ours to remove

    def _read(self) -> dict:
        try:
            document = json.loads(self.path.read_text())
            return dict(document["models"]) if document.get("version") == VERSION else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}
