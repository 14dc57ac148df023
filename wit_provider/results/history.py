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
from fractions import Fraction
from functools import lru_cache
from itertools import groupby
from typing import NamedTuple

import numpy as np

from .metrics import VALID_YEAR_OBS, Years

HISTORY_FIELDS = ("wit_regime", "wit_trend_slope", "wit_trend_p", "wit_trend", "wit_latest_year",
                  "wit_latest_wet_max", "wit_latest_rank_pct", "wit_latest_anomaly")
# Each class with its colour (the map's styles; the explorer's Sen's line takes the trend's): regimes from the plot's
# open-water blue to its dry-vegetation beige; trends blue for wetter, red for drier, grey for none.
REGIME_COLOURS = (("permanent", "#030aa7"), ("seasonal", "#0390d6"), ("intermittent", "#04d9ff"),
                  ("episodic", "#9becff"), ("dry", "#e6daa6"))
TREND_COLOURS = (("wetter", "#2166ac"), ("drier", "#d6301d"), ("no trend", "#9e9e9e"))
REGIME_YEARS = 5  # valid years needed for a regime
TREND_YEARS = 8  # valid years needed for a trend
EARLIER_YEARS = 5  # earlier valid years needed to rank the latest one
PERMANENT_SHARE = Fraction(9, 10)  # the median share of wet observations of a permanent wetland
SEASONAL_SHARE, INTERMITTENT_SHARE = 0.8, 0.2  # shares of valid years with any wet observation
SIGNIFICANCE = 0.05
PER_DECADE = 1000  # a fraction per year → percentage points per decade


class Trend(NamedTuple):
    """Mann–Kendall's S, its variance, Z and two-sided p; Sen's slope (per year) and the intercept of
    Sen's line, median(x) − slope × median(year) (Conover's; pymannkendall's where years have no gaps)."""

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


def regime(wet_obs: list[int], obs: list[int]) -> str | None:
    """The regime from each valid year's wet and all observations; None with fewer than REGIME_YEARS.
    The shares are compared as fractions, exactly: a median of 17/20 and 19/20 is 0.9, permanent."""
    if len(obs) < REGIME_YEARS:
        return None
    # A median of 0.9 needs more than half of the years at 0.8 or more: most wetlands stop here.
    if sum(1 for wet, count in zip(wet_obs, obs) if 5 * wet >= 4 * count) > len(obs) // 2 and \
            _median_share_at_least(wet_obs, obs, PERMANENT_SHARE):
        return "permanent"
    share = sum(1 for wet in wet_obs if wet) / len(obs)
    if share >= SEASONAL_SHARE:
        return "seasonal"
    if share >= INTERMITTENT_SHARE:
        return "intermittent"
    return "episodic" if share > 0 else "dry"


def _median_share_at_least(wet_obs: list[int], obs: list[int], bound: Fraction) -> bool:
    """median(wet_obs[y] / obs[y]) >= bound, in integers: floats would put 17/20 and 19/20 under 0.9."""
    shares = [wet / count for wet, count in zip(wet_obs, obs)]
    ordered = sorted(shares)
    n = len(ordered)
    a, b = shares.index(ordered[(n - 1) // 2]), shares.index(ordered[n // 2])  # the middle years, exactly
    (k_a, n_a), (k_b, n_b) = (wet_obs[a], obs[a]), (wet_obs[b], obs[b])
    return (k_a * n_b + k_b * n_a) * bound.denominator >= bound.numerator * 2 * n_a * n_b


def median(values: list[float]) -> float:
    """The median of a record's few dozen values, as ``np.median`` gives it, at a tenth of its cost."""
    return _middle(sorted(values))


def _middle(ordered: list[float]) -> float:
    n = len(ordered)
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2


@lru_cache(maxsize=128)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (i, j) with i < j, and j − i: a record of n years has the same pairs wherever it comes
    from, and in a record without gaps they are that many years apart."""
    first, second = np.triu_indices(n, 1)
    return first, second, (second - first).astype(np.float64)


def mann_kendall(years: list[int], values: np.ndarray) -> Trend:
    """The trend of ``values`` over ``years`` (whole years, strictly increasing; gaps allowed); at least 2."""
    return trends([list(years)], [np.asarray(values, dtype=np.float64).tolist()])[0]


def trends(years: list[list[int]], values: list[list[float]]) -> list[Trend]:
    """The trend of each row of ``values`` over the same row of ``years`` (whole years, each strictly
    increasing; gaps allowed: a row spanning as many years as it has is taken for one without), rows
    of one length at once. The hundreds of pairs are NumPy's, a few calls for all the rows (Sen's
    median by partition, not a sort); each row's few dozen values, their ties and medians, are
    cheaper sorted in Python than in arrays (docs/benchmarks.md)."""
    n = len(values[0])
    first, second, apart = _pairs(n)
    rows = np.array(values, dtype=np.float64)
    differences = rows[:, second] - rows[:, first]
    s = [int(total) for total in np.sign(differences).sum(axis=1).tolist()]
    if any(row[-1] - row[0] != n - 1 for row in years):  # gaps: each pair's own span
        spans = np.array(years, dtype=np.float64)
        apart = spans[:, second] - spans[:, first]
    middle = ((len(first) - 1) // 2, len(first) // 2)
    sen = [(low + high) / 2 for low, high in np.partition(differences / apart, middle, axis=1)[:, middle].tolist()]
    untied = n * (n - 1) * (2 * n + 5)
    found = []
    for s_row, slope, row, row_years in zip(s, sen, values, years):
        ordered = sorted(row)
        var_s = (untied - _tie_terms(ordered)) / 18
        z = 0.0 if s_row == 0 or var_s == 0 else (s_row - math.copysign(1, s_row)) / math.sqrt(var_s)
        found.append(Trend(s_row, var_s, z, math.erfc(abs(z) / math.sqrt(2)), slope,
                           _middle(ordered) - slope * _middle(row_years)))
    return found


def _tie_terms(ordered: list[float]) -> int:
    """Σ t(t − 1)(2t + 5) over the groups of t equal values (ties) of a sorted record."""
    total = 0
    for _, group in groupby(ordered):
        t = sum(1 for _ in group)
        total += t * (t - 1) * (2 * t + 5)
    return total


@dataclass
class History:
    """A wetland's record of valid years (and each one's ``wetw_max``) and what it says; ``fields()``
    are the layer's values."""

    years: list[int]
    wetw_max: list[float]
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
            rank = sum(1 for v in earlier if v < latest) + 0.5 * sum(1 for v in earlier if v == latest)
            values.update(wit_latest_year=self.years[-1], wit_latest_wet_max=100 * latest,
                          wit_latest_rank_pct=100 * rank / len(earlier),
                          wit_latest_anomaly=100 * (latest - median(earlier)))
        return values


def history(years: Years) -> History:
    """The wetland's valid years, regime and trend."""
    return histories([years])[0]


def histories(records: list[Years]) -> list[History]:
    """Each wetland's ``history``, the trends of records of one length computed together (``trends``);
    on a few dozen years, lists cost less than arrays for the rest."""
    found, by_length = [], {}
    for years in records:
        obs, wet_obs, record = years.obs.tolist(), years.wet_obs.tolist(), years.years.tolist()
        peaks = years.wetw_max.tolist()
        if not all(count >= VALID_YEAR_OBS for count in obs):  # leave out the years with too few observations
            keep = [i for i, count in enumerate(obs) if count >= VALID_YEAR_OBS]
            obs, wet_obs, record, peaks = ([column[i] for i in keep] for column in (obs, wet_obs, record, peaks))
        found.append(History(record, peaks, regime(wet_obs, obs), None))
        if len(record) >= TREND_YEARS:
            by_length.setdefault(len(record), []).append(len(found) - 1)
    for indices in by_length.values():
        computed = trends([found[i].years for i in indices], [found[i].wetw_max for i in indices])
        for i, trend in zip(indices, computed):
            found[i].trend = trend
    return found


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
        parts.append(("%s (%s pp/decade, p %s)" if short else "%s (Sen's slope %s pp/decade, p %s)") % (
            values["wit_trend"], _signed(values["wit_trend_slope"]), _p(values["wit_trend_p"])))
    if values.get("wit_latest_year") is not None:
        if short:
            parts.append("%d: rank %.0f %%" % (values["wit_latest_year"], values["wit_latest_rank_pct"]))
        else:
            parts.append("%d: peak %.0f %% wet, rank %.0f %% of earlier years, %+.1f pp on their median" % (
                values["wit_latest_year"], values["wit_latest_wet_max"], values["wit_latest_rank_pct"],
                values["wit_latest_anomaly"]))
    return (" · " if short else "; ").join(parts)


def _signed(value: float) -> str:
    """+1.2 or −1.2, and 0 for a slope of exactly 0 (a record with more ties than changes)."""
    return "%+.1f" % value if value else "0"


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else "%.3f" % p
