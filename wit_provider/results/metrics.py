"""DEA's WIT metrics of one merged series: annual metrics and inundation events.

The definitions are those of wit_tooling's ``annual_metrics`` and ``inundation_metrics``
(GeoscienceAustralia/wit_tooling, examples/wit/wit_metrics.py), with our field names, and
with durations on UTC dates where wit_tooling floors a time difference. Vectorised with
NumPy over the whole series: no per-observation Python loop. No QGIS here.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date

import numpy as np

from .table import Series, utc_date, wet_runs

# Each annual member and the fractions it adds up (wit_tooling's 'WATER+WET' and so on).
MEMBERS = (("water", ("water",)), ("wet", ("wet",)), ("pv", ("pv",)), ("npv", ("npv",)), ("bs", ("bs",)),
           ("wetw", ("water", "wet")), ("pv_wet", ("pv", "wet")), ("veg_wet", ("npv", "pv", "wet")))
LEVELS = (0.25, 0.75)  # m_n25, m_n75: observations with m >= the level
_SUMMARIES = ("max", "min", "mean", "median")
ANNUAL_NAMES = tuple("%s_%s" % (member, what) for member, _ in MEMBERS
                     for what in _SUMMARIES + tuple("n%d" % round(level * 100) for level in LEVELS))
EVENT_NAMES = ("event", "start", "end", "duration_days", "gap_days", "max_wet", "mean_wet", "max_wet_ha",
               "mean_wet_ha")
VALID_YEAR_OBS = 4  # a year with fewer observations is not enough to judge (wit_tooling's rule)
YEARLY_PEAKS = "wit_wet_max_by_year"  # the results layer's field of each year's wetw_max: its Year by year style
_EPOCH_YEAR = 1970
# 1 January of 1900 to 2200 in nanoseconds since the epoch (UTC), and those years: where years_of looks.
_CALENDAR = np.arange(1900, 2201, dtype=np.int64)
_NEW_YEARS = (_CALENDAR - _EPOCH_YEAR).astype("datetime64[Y]").astype("datetime64[ns]").view(np.int64)
_NEW_YEAR_LIST = _NEW_YEARS.tolist()  # for bisect: two look-ups cost less than one NumPy call


@dataclass
class Years:
    """The UTC calendar years of a merged series: each year's first index in it (``starts``), its
    observations, its wet observations (``Series.wet_mask``) and its peak wet extent ``wetw_max``
    (largest water + wet). What ANNUAL and the comparison with the past are both built on."""

    years: np.ndarray
    starts: np.ndarray
    obs: np.ndarray
    wet_obs: np.ndarray
    wetw_max: np.ndarray

    def valid(self) -> np.ndarray:
        """True for each year with at least VALID_YEAR_OBS observations."""
        return self.obs >= VALID_YEAR_OBS


def years_of(series: Series, threshold: float) -> Years:
    """The series' years, found by where each 1 January falls in its times: ``series`` is merged
    (in time order), so each year is one slice, and a few dozen boundaries cost less than
    converting every observation's time to its year."""
    time = series.time
    if not len(time):
        empty = np.empty(0, dtype=np.int64)
        return Years(empty, empty, empty, empty, np.empty(0))
    first, last = bisect_right(_NEW_YEAR_LIST, int(time[0])) - 1, bisect_right(_NEW_YEAR_LIST, int(time[-1])) - 1
    if 0 <= first and last < len(_NEW_YEARS) - 1:
        edges = np.searchsorted(time, _NEW_YEARS[first:last + 2])
        starts = edges[:-1]
        calendar, counts = _CALENDAR[first:last + 1], edges[1:] - starts
        if not counts.all():  # a year without observations between two with
            observed = counts > 0
            calendar, counts, starts = calendar[observed], counts[observed], starts[observed]
    else:  # outside the table (odd times, as far as nanoseconds reach): each observation's year
        years = time.view("datetime64[ns]").astype("datetime64[Y]").astype(np.int64) + _EPOCH_YEAR
        starts = np.flatnonzero(np.concatenate(([True], years[1:] != years[:-1])))
        calendar, counts = years[starts], np.diff(np.append(starts, len(years)))
    return Years(calendar, starts, counts, np.add.reduceat(series.wet_mask(threshold), starts, dtype=np.int64),
                 np.maximum.reduceat(series.wetw, starts))


def yearly_peaks(years: Years) -> str | None:
    """Each year's ``wetw_max`` in percent, as JSON keyed by year ('{"1987":0.0,"1988":12.25}'); None
    without observations. Rounded down to 0.01 percentage point, so a year falls in the class its
    ANNUAL row falls in (a class starts at a whole percent), at a fifth of the text of full floats."""
    if not len(years.years):
        return None
    hundredths = np.floor(years.wetw_max * 10_000 + 1e-6).astype(np.int64)  # (1e-6: 0.29 × 10⁴ is 2899.99…)
    return json.dumps({str(year): peak / 100 for year, peak in zip(years.years.tolist(), hundredths.tolist())},
                      separators=(",", ":"))


@dataclass
class AnnualMetrics:
    """One row per UTC calendar year with observations: its ``Years`` and ``values``
    (one column per ANNUAL_NAMES entry; the counts are whole numbers)."""

    years: Years
    values: np.ndarray

    def rows(self) -> list[list]:
        """[year, obs, wet_obs, valid (1 or 0), *values] per year as plain Python numbers (counts as int)."""
        summaries, counts = len(_SUMMARIES), len(LEVELS)
        width = summaries + counts
        rows = []
        years = self.years
        for year, obs, wet_obs, valid, values in zip(years.years.tolist(), years.obs.tolist(),
                                                     years.wet_obs.tolist(), years.valid().tolist(),
                                                     self.values.tolist()):
            row = [year, obs, wet_obs, int(valid)]
            for start in range(0, len(values), width):
                row += values[start:start + summaries]
                row += [int(v) for v in values[start + summaries:start + width]]
            rows.append(row)
        return rows


def annual_metrics(series: Series, years: Years) -> AnnualMetrics:
    """Per calendar year (UTC, ``years`` = ``years_of(series, …)``): max, min, mean, median of each
    member, and how many observations reach 0.25 and 0.75."""
    if not len(series):
        return AnnualMetrics(years, np.empty((0, len(ANNUAL_NAMES))))
    members = np.column_stack([sum(getattr(series, name) for name in parts) for _, parts in MEMBERS])
    starts, counts = years.starts, years.obs
    block = np.repeat(np.arange(len(starts)), counts)
    low, high = starts + (counts - 1) // 2, starts + counts // 2  # the middle one or two of each year
    ordered = np.column_stack([column[np.lexsort((column, block))] for column in members.T])
    columns = [np.maximum.reduceat(members, starts), np.minimum.reduceat(members, starts),
               np.add.reduceat(members, starts) / counts[:, None], (ordered[low] + ordered[high]) / 2]
    columns += [np.add.reduceat((members >= level).astype(np.int64), starts).astype(np.float64) for level in LEVELS]
    values = np.stack(columns, axis=2).reshape(len(starts), -1)  # member-major: water_max, water_min, …
    return AnnualMetrics(years, values)


def inundation_events(series: Series, threshold: float, area_ha: float | None) -> list[tuple]:
    """One tuple per event (EVENT_NAMES): a maximal run of consecutive wet observations.
    ``duration_days`` counts the UTC dates from the first to the last observation;
    ``gap_days`` the dates between the previous event's last and this one's first."""
    wet = series.wet_mask(threshold)
    first, last = wet_runs(wet)
    if not len(first):
        return []
    wetw = series.wetw
    days = series.dates()
    starts, ends = days[first], days[last]
    gaps = np.concatenate(([0], starts[1:] - ends[:-1] - 1))
    # From one event's first observation to the next one's: the event, then dry ones (finite: merged).
    peaks = np.maximum.reduceat(wetw, first)
    means = np.add.reduceat(np.where(wet, wetw, 0.0), first) / (last - first + 1)
    events = []
    for number, (start, end, gap, peak, mean) in enumerate(zip(starts.tolist(), ends.tolist(), gaps.tolist(),
                                                               peaks.tolist(), means.tolist()), 1):
        events.append((number, utc_date(start), utc_date(end), end - start + 1, gap, peak, mean,
                       None if area_ha is None else peak * area_ha, None if area_ha is None else mean * area_ha))
    return events


def year_bounds(year: int) -> tuple[date, date]:
    """1 January of ``year`` and of the next: the ANNUAL row's start and (exclusive) end."""
    return date(year, 1, 1), date(year + 1, 1, 1)
