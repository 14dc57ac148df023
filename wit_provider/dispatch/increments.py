"""Time increments: a polygon's interval cut into successive jobs, and their outcomes joined again.

WIT gives the same series whether an interval is one job or several. The cuts fall on
1 January of every year divisible by k, so they depend on neither START nor END: a rerun
with a later END finds every earlier increment in the journal and computes only the last.
No QGIS here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from ..common.job_states import CANCELLED, SUCCEEDED
from .jobs import Outcome


@dataclass(frozen=True)
class Increment:
    """Which polygon (0-based input position) and which part of its interval a job is."""

    feature: int
    part: int
    parts: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class PolygonResult:
    """What the output layer says of one polygon: ``url`` is one URI, or a JSON array of them."""

    status: str
    url: str
    error: str


def periods(start: datetime, end: datetime, years: int) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at 1 January of every year divisible by ``years`` (0: not cut)."""
    if years <= 0:
        return [(start, end)]
    cuts = [datetime(year, 1, 1) for year in range(start.year, end.year + 1) if year % years == 0]
    edges = [start] + [cut for cut in cuts if start < cut < end] + [end]
    return list(zip(edges, edges[1:]))


def by_polygon(outcomes: Iterator[Outcome], periods: list[tuple[datetime, datetime]],
               reason: Callable[[], str]) -> Iterator[list[Outcome]]:
    """The run's outcomes (in job order) grouped per polygon, in input order, without end.

    Once the run has stopped, each increment it did not reach is ``cancelled`` with
    ``reason()``; the caller stops reading when it runs out of polygons.
    """
    feature = 0
    while True:
        parts: list[Outcome] = []
        for outcome in outcomes:
            parts.append(outcome)
            if outcome.label.part == outcome.label.parts - 1:
                break
        missing = periods[len(parts):] if not parts or parts[-1].label.parts == len(periods) else []
        for offset, (start, end) in enumerate(missing, start=len(parts)):
            parts.append(Outcome(-1, CANCELLED, error=reason(),
                                 label=Increment(feature, offset, len(periods), start, end)))
        yield parts
        feature += 1


def polygon_result(outcomes: list[Outcome]) -> PolygonResult:
    """One polygon's increments, in time order, as one result.

    ``succeeded`` only when every increment succeeded, else the status of the first that
    did not; the error names each increment that did not succeed by its dates.
    """
    if len(outcomes) == 1:
        only = outcomes[0]
        return PolygonResult(only.status, only.url, only.error)
    unfinished = [o for o in outcomes if o.status != SUCCEEDED]
    error = "; ".join("%s to %s %s: %s" % (_day(o.label.start), _day(o.label.end), o.status, o.error)
                      for o in unfinished)
    urls = [o.url for o in outcomes if o.url]
    return PolygonResult(unfinished[0].status if unfinished else SUCCEEDED, json.dumps(urls) if urls else "", error)


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if (moment.hour, moment.minute) != (0, 0) else moment.strftime("%Y-%m-%d")
