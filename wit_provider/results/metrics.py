"""DEA's WIT metrics of one merged series: annual metrics and inundation events.

The definitions are those of wit_tooling's ``annual_metrics`` and ``inundation_metrics``
(GeoscienceAustralia/wit_tooling, examples/wit/wit_metrics.py), with our field names, and
with durations on UTC dates where wit_tooling floors a time difference. Vectorised with
NumPy over the whole series: no per-observation Python loop. No QGIS here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from .table import Series, utc_date, wet_mask, wet_runs

# Each annual member and the fractions it adds up (wit_tooling's 'WATER+WET' and so on).
MEMBERS = (("water", ("water",)), ("wet", ("wet",)), ("pv", ("pv",)), ("npv", ("npv",)), ("bs", ("bs",)),
           ("wetw", ("water", "wet")), ("pv_wet", ("pv", "wet")), ("veg_wet", ("npv", "pv", "wet")))
LEVELS = (0.25, 0.75)  # m_n25, m_n75: observations with m >= the level
_SUMMARIES = ("max", "min", "mean", "median")
ANNUAL_NAMES = tuple("%s_%s" % (member, what) for member, _ in MEMBERS
                     for what in _SUMMARIES + tuple("n%d" % round(level * 100) for level in LEVELS))
EVENT_NAMES = ("event", "start", "end", "duration_days", "gap_days", "max_wet", "mean_wet", "max_wet_ha",
               "mean_wet_ha")
_EPOCH_YEAR = 1970


@dataclass
class AnnualMetrics:
    """One row per UTC calendar year with observations: ``years``, ``obs`` and ``values``
    (one column per ANNUAL_NAMES entry; the counts are whole numbers)."""

    years: np.ndarray
    obs: np.ndarray
    values: np.ndarray

    def rows(self) -> list[list]:
        """[year, obs, *values] per year as plain Python numbers (counts as int)."""
        summaries, counts = len(_SUMMARIES), len(LEVELS)
        width = summaries + counts
        rows = []
        for year, obs, values in zip(self.years.tolist(), self.obs.tolist(), self.values.tolist()):
            row = [year, obs]
            for start in range(0, len(values), width):
                row += values[start:start + summaries]
                row += [int(v) for v in values[start + summaries:start + width]]
            rows.append(row)
        return rows


def annual_metrics(series: Series) -> AnnualMetrics:
    """Per calendar year (UTC): max, min, mean, median of each member, and how many observations
    reach 0.25 and 0.75. ``series`` is merged: in time order, so each year is one slice."""
    members = np.column_stack([sum(getattr(series, name) for name in parts) for _, parts in MEMBERS]) \
        if len(series) else np.empty((0, len(MEMBERS)))
    years = series.time.astype("datetime64[ns]").astype("datetime64[Y]").astype(np.int64) + _EPOCH_YEAR
    if not len(years):
        return AnnualMetrics(years, years.copy(), np.empty((0, len(ANNUAL_NAMES))))
    starts = np.flatnonzero(np.concatenate(([True], years[1:] != years[:-1])))
    counts = np.diff(np.append(starts, len(years)))
    block = np.repeat(np.arange(len(starts)), counts)
    low, high = starts + (counts - 1) // 2, starts + counts // 2  # the middle one or two of each year
    ordered = np.column_stack([column[np.lexsort((column, block))] for column in members.T])
    columns = [np.maximum.reduceat(members, starts), np.minimum.reduceat(members, starts),
               np.add.reduceat(members, starts) / counts[:, None], (ordered[low] + ordered[high]) / 2]
    columns += [np.add.reduceat((members >= level).astype(np.int64), starts).astype(np.float64) for level in LEVELS]
    values = np.stack(columns, axis=2).reshape(len(starts), -1)  # member-major: water_max, water_min, …
    return AnnualMetrics(years[starts], counts, values)


def inundation_events(series: Series, threshold: float, area_ha: float | None) -> list[tuple]:
    """One tuple per event (EVENT_NAMES): a maximal run of consecutive wet observations.
    ``duration_days`` counts the UTC dates from the first to the last observation;
    ``gap_days`` the dates between the previous event's last and this one's first."""
    wet = wet_mask(series, threshold)
    first, last = wet_runs(wet)
    if not len(first):
        return []
    wetw = series.water + series.wet
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
