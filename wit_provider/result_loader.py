"""Load every polygon's WIT result in a bounded pool and hand back summaries in input order.

Memory stays flat in the number of polygons: at most ``2 × max_concurrent`` polygons are
in the pool or waiting for their turn, and each file's rows are summarised (and plotted)
in the worker that read them. A polygon whose result cannot be read is ``failed`` with
the reason; it never stops the run. No QGIS here.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from .dispatcher import FAILED  # one word for a failure in both algorithms
from .result_fetch import Fetcher, FetchError, parse_locations
from .wit_table import Series, TableError, merge, read_series, statistics

LOADED = "loaded"
NO_RESULT = "no result"
LOAD_STATUSES = (LOADED, FAILED, NO_RESULT)
CANCEL_CHECK_SECONDS = 0.2


@dataclass(frozen=True)
class LoadJob:
    """Plain data for a worker: the polygon's ID, its location field value, its area in hectares."""

    ident: str
    location: Any
    area_ha: float | None = None


@dataclass
class Loaded:
    status: str
    error: str = ""
    stats: dict = field(default_factory=dict)
    series: Series | None = None
    plot: str = ""


class ResultLoader:
    def __init__(self, fetcher: Fetcher, reader: str, threshold: float, max_concurrent: int,
                 plots_dir: str | None = None, keep_series: bool = False):
        self.fetcher = fetcher
        self.reader = reader
        self.threshold = threshold
        self.max_concurrent = max_concurrent
        self.plots_dir = plots_dir
        self.keep_series = keep_series

    def load(self, job: LoadJob) -> Loaded:
        """One polygon, start to end; every expected failure becomes a reason."""
        try:
            locations = parse_locations(job.location)
            if not locations:
                return Loaded(NO_RESULT)
            parts = []
            for number, location in enumerate(locations, 1):
                try:
                    parts.append(read_series(self.fetcher.fetch(location), self.reader))
                except (FetchError, TableError) as reason:
                    where = "increment %d of %d (%s): " % (number, len(locations), location) if len(
                        locations) > 1 else ""
                    raise FetchError(where + str(reason)) from None
            series = merge(parts)
            plot = ""
            if self.plots_dir and len(series):
                from .wit_plot import plot_name, write_plot  # matplotlib only when plots are asked for

                plot = os.path.join(self.plots_dir, plot_name(job.ident))
                write_plot(series, job.ident, plot)
            return Loaded(LOADED, stats=statistics(series, self.threshold, job.area_ha),
                          series=series if self.keep_series else None, plot=plot)
        except FetchError as reason:
            return Loaded(FAILED, error=str(reason))
        except OSError as error:
            return Loaded(FAILED, error="cannot write the plot: %s" % error)
        except Exception as error:  # a bug must not stop the other polygons
            return Loaded(FAILED, error="internal error: %r" % (error,))

    def run(self, items: Iterable[tuple[Any, LoadJob]], cancelled: Callable[[], bool]) -> Iterator[tuple[Any, Loaded]]:
        """(item, Loaded) in input order; stops promptly when ``cancelled()`` turns true."""
        window = 2 * self.max_concurrent
        pending: deque[tuple[Any, Future]] = deque()
        source = iter(items)
        pool = ThreadPoolExecutor(max_workers=self.max_concurrent, thread_name_prefix="wit-load")
        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) < window:
                    item = next(source, None)
                    if item is None:
                        exhausted = True
                        break
                    pending.append((item[0], pool.submit(self.load, item[1])))
                if not pending:
                    return
                head = pending[0][1]
                while not head.done():
                    if cancelled():
                        return
                    wait([head], timeout=CANCEL_CHECK_SECONDS, return_when=FIRST_COMPLETED)
                if cancelled():
                    return
                item, future = pending.popleft()
                yield item, future.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

