"""Sites of several polygons: their subsites' WIT series combined into one, by area.

A site's series has one observation per UTC date on which any of its subsites was observed,
kept when the subsites observed that date cover at least ``cover`` of the site's area (the
sum of its loaded subsites' ellipsoidal areas). Each fraction is then the area-weighted mean
over the subsites observed, a subsite observed twice on the date counting with the mean of its
two. The observation's time is the date's earliest among them, so TIMESERIES keeps a real
acquisition time. No QGIS here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .table import FRACTIONS, Series

SITE_COVER = 0.9  # the share of a site's area that a date's observations must cover


@dataclass
class Combined:
    """A site's series, its area (its loaded subsites') and the number of dates dropped for covering
    too little of it."""

    series: Series
    area: float
    dropped_dates: int


def combine(subsites: list[tuple[Series, float]], cover: float = SITE_COVER) -> Combined:
    """The site's series from each loaded subsite's merged series and its area (any unit, > 0)."""
    site_area = sum(area for _, area in subsites)
    days, areas, times, sums = [], [], [], []
    for series, area in subsites:
        if not len(series):
            continue
        day = series.dates()
        starts = np.flatnonzero(np.concatenate(([True], day[1:] != day[:-1])))  # merged: in time order
        counts = np.diff(np.append(starts, len(day)))
        days.append(day[starts])
        areas.append(np.full(len(starts), area))
        times.append(series.time[starts])
        # The area times the mean of the date's observations of this subsite, per fraction.
        sums.append(np.column_stack([np.add.reduceat(getattr(series, name), starts) / counts * area
                                     for name in FRACTIONS]))
    if not days:
        empty = np.empty(0)
        return Combined(Series(np.empty(0, dtype=np.int64), *(empty,) * len(FRACTIONS)), site_area, 0)
    day, area, time, weighted = (np.concatenate(part) for part in (days, areas, times, sums))
    dates, inverse = np.unique(day, return_inverse=True)
    observed = np.bincount(inverse, weights=area, minlength=len(dates))
    first = np.full(len(dates), np.iinfo(np.int64).max)
    np.minimum.at(first, inverse, time)
    kept = observed >= cover * site_area
    fractions = [np.bincount(inverse, weights=weighted[:, i], minlength=len(dates))[kept] / observed[kept]
                 for i in range(len(FRACTIONS))]
    return Combined(Series(first[kept], *fractions), site_area, int(len(dates) - np.count_nonzero(kept)))
