"""Now against the past: a wetland's regime, its long-term trend and where its latest year stands.

Computed from its ``Years`` (see ``metrics.years_of``) over the valid years only (at least
VALID_YEAR_OBS observations). The regime is this plugin's own classification, not a DEA
product. The trend is the Mann–Kendall test with the tie correction and the continuity
correction (two-sided p from the normal distribution) on each year's peak wet extent
``wetw_max``, with Sen's slope over the years themselves, so gaps between years count. Every
field is NULL (None) when there are too few valid years to say. No QGIS here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .metrics import Years

HISTORY_FIELDS = ("wit_regime", "wit_trend_slope", "wit_trend_p", "wit_trend", "wit_latest_year",
                  "wit_latest_wet_max", "wit_latest_rank_pct", "wit_latest_anomaly")
# Each class with the colour the map, the explorer and the plot give it: regimes from the plot's
# open-water blue to its dry-vegetation beige; trends blue for wetter, red for drier, grey for none.
REGIME_COLOURS = (("permanent", "#030aa7"), ("seasonal", "#0390d6"), ("intermittent", "#04d9ff"),
                  ("episodic", "#9becff"), ("dry", "#e6daa6"))
TREND_COLOURS = (("wetter", "#2166ac"), ("drier", "#d6301d"), ("no trend", "#9e9e9e"))
REGIME_YEARS = 5  # valid years needed for a regime
TREND_YEARS = 8  # valid years needed for a trend
EARLIER_YEARS = 5  # earlier valid years needed to rank the latest one
PERMANENT_MEDIAN = 0.9  # median share of wet observations of a permanent wetland
SEASONAL_SHARE, INTERMITTENT_SHARE = 0.8, 0.2  # shares of valid years with any wet observation
SIGNIFICANCE = 0.05
PER_DECADE = 1000  # a fraction per year → percentage points per decade


@dataclass(frozen=True)
class Trend:
    """Mann–Kendall's S, its variance, Z and two-sided p; Sen's slope (per year) and the intercept of
    Sen's line, median(x) − slope × median(year), as Conover's estimator and pymannkendall give it."""

    s: int
    var_s: float
    z: float
    p: float
    slope: float
    intercept: float

    def direction(self) -> str:
        """'wetter' or 'drier' where p < 0.05 (by the slope's sign, or S's where the slope is 0), else 'no trend'."""
        if self.p >= SIGNIFICANCE:
            return "no trend"
        sign = self.slope if self.slope != 0 else self.s
        return "wetter" if sign > 0 else "drier"


def regime(wet_share: np.ndarray) -> str | None:
    """The regime from each valid year's share of wet observations; None with fewer than REGIME_YEARS."""
    if len(wet_share) < REGIME_YEARS:
        return None
    if median(wet_share) >= PERMANENT_MEDIAN:
        return "permanent"
    share = np.count_nonzero(wet_share > 0) / len(wet_share)
    if share >= SEASONAL_SHARE:
        return "seasonal"
    if share >= INTERMITTENT_SHARE:
        return "intermittent"
    return "episodic" if share > 0 else "dry"


def median(values: np.ndarray) -> float:
    """The median, as ``np.median`` gives it, at a tenth of its cost on a record's few dozen values."""
    return _middle(np.sort(values))


def _middle(ordered: np.ndarray) -> float:
    n = len(ordered)
    return float((ordered[(n - 1) // 2] + ordered[n // 2]) / 2)


@lru_cache(maxsize=128)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (i, j) with i < j: a record of n years has the same pairs wherever it comes from."""
    return np.triu_indices(n, 1)


def mann_kendall(years: np.ndarray, values: np.ndarray) -> Trend:
    """The trend of ``values`` over ``years`` (strictly increasing; gaps allowed); at least 2 of them."""
    n = len(values)
    first, second = _pairs(n)
    differences = values[second] - values[first]
    s = int(np.count_nonzero(differences > 0)) - int(np.count_nonzero(differences < 0))
    ordered = np.sort(values)
    var_s = float(n * (n - 1) * (2 * n + 5) - _tie_term(ordered)) / 18
    z = 0.0 if s == 0 or var_s == 0 else (s - math.copysign(1, s)) / math.sqrt(var_s)
    slope = median(differences / (years[second] - years[first]))
    return Trend(s, var_s, z, math.erfc(abs(z) / math.sqrt(2)), slope,
                 _middle(ordered) - slope * _middle(years))


def _tie_term(ordered: np.ndarray) -> int:
    """Σ t(t − 1)(2t + 5) over the groups of t equal values (ties) of the sorted values."""
    changes = ordered[1:] != ordered[:-1]
    if changes.all():
        return 0
    ties = np.diff(np.flatnonzero(np.concatenate(([True], changes, [True]))))
    return int(np.dot(ties * (ties - 1), 2 * ties + 5))


@dataclass(frozen=True)
class History:
    """A wetland's record of valid years and what it says; ``fields()`` are the layer's values."""

    years: np.ndarray
    wetw_max: np.ndarray
    regime: str | None
    trend: Trend | None

    def fields(self) -> dict:
        """HISTORY_FIELDS → value (None where there are too few valid years): percentages of the
        wetland, percentage points, and the slope in percentage points per decade."""
        values = dict.fromkeys(HISTORY_FIELDS)
        values["wit_regime"] = self.regime
        if self.trend is not None:
            values.update(wit_trend_slope=PER_DECADE * self.trend.slope, wit_trend_p=self.trend.p,
                          wit_trend=self.trend.direction())
        earlier = self.wetw_max[:-1]
        if len(earlier) >= EARLIER_YEARS:
            latest = self.wetw_max[-1]
            rank = np.count_nonzero(earlier < latest) + 0.5 * np.count_nonzero(earlier == latest)
            values.update(wit_latest_year=int(self.years[-1]), wit_latest_wet_max=100 * float(latest),
                          wit_latest_rank_pct=100 * float(rank) / len(earlier),
                          wit_latest_anomaly=100 * (float(latest) - median(earlier)))
        return values


def history(years: Years) -> History:
    """The wetland's valid years, regime and trend."""
    valid = years.valid()
    record, peaks = years.years[valid], years.wetw_max[valid]
    trend = mann_kendall(record.astype(np.float64), peaks) if len(record) >= TREND_YEARS else None
    return History(record, peaks, regime(years.wet_obs[valid] / years.obs[valid]), trend)


def summary(values: dict, short: bool = False) -> str:
    """One line for a plot or a dock: regime, trend and the latest year's standing, from ``fields()``;
    ``short`` for a wetland among others (a line of a narrow dock)."""
    regime_name = values.get("wit_regime")
    if short:
        parts = [regime_name or "no regime"]
    else:
        parts = ["regime %s" % (regime_name or "not classified (under %d valid years)" % REGIME_YEARS)]
    if values.get("wit_trend") is None:
        parts.append("no trend computed" if short else "trend: under %d valid years" % TREND_YEARS)
    else:
        parts.append(("%s (%+.1f pp/decade, p %s)" if short else "%s (Sen's slope %+.1f pp/decade, p %s)") % (
            values["wit_trend"], values["wit_trend_slope"], _p(values["wit_trend_p"])))
    if values.get("wit_latest_year") is not None:
        if short:
            parts.append("%d: rank %.0f %%" % (values["wit_latest_year"], values["wit_latest_rank_pct"]))
        else:
            parts.append("%d: peak %.0f %% wet, rank %.0f %% of earlier years, %+.1f pp on their median" % (
                values["wit_latest_year"], values["wit_latest_wet_max"], values["wit_latest_rank_pct"],
                values["wit_latest_anomaly"]))
    return (" · " if short else "; ").join(parts)


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else "%.3f" % p
