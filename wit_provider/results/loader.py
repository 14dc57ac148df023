"""Load every polygon's WIT result in a bounded pool and hand back summaries in input order.

Memory stays flat in the number of polygons: at most ``2 × max_concurrent`` polygons are
in the pool or waiting for their turn, and each file's rows are summarised (and plotted)
in the worker that read them. A polygon whose result cannot be read is ``failed`` with
the reason; it never stops the run. No QGIS here.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

from ..common.job_states import FAILED, SUCCEEDED  # one vocabulary across both algorithms
from .fetch import Fetcher, FetchError, parse_locations
from .history import histories, summary
from .metrics import YEARLY_PEAKS, Years, annual_metrics, inundation_events, yearly_peaks, years_of
from .sites import SITE_COVER, combine
from .table import Series, TableError, merge, read_series, statistics

LOADED = "loaded"
NO_RESULT = "no result"
LOAD_STATUSES = (LOADED, FAILED, NO_RESULT)
CANCEL_CHECK_SECONDS = 0.2


@dataclass(frozen=True)
class LoadJob:
    """Plain data for a worker: the polygon's ID, its location field value, its area in hectares,
    and its ``wit_status`` where the layer has one (Dispatch WIT's output)."""

    ident: str
    location: Any
    area_ha: float | None = None
    dispatch_status: str | None = None


@dataclass(frozen=True)
class SiteJob:
    """A site of several polygons (its subsites, each a LoadJob) loaded as one wetland: their
    series combined by area (``sites.combine``) where at least ``cover`` of the site is observed."""

    ident: str
    subsites: tuple[LoadJob, ...]
    cover: float = SITE_COVER


@dataclass
class Loaded:
    status: str
    error: str = ""
    stats: dict = field(default_factory=dict)  # statistics, each year's peak, the comparison with the past
    series: Series | None = None
    plot: str = ""
    annual: list = field(default_factory=list)  # AnnualMetrics.rows(), when asked for
    events: list = field(default_factory=list)  # inundation_events(), when asked for
    years: Years | None = None  # until the comparison with the past is in ``stats``
    subsites: list[str] = field(default_factory=list)  # a site's: each subsite's load status, in order


class ResultLoader:
    """Reads each polygon's files once and computes, in the worker that read them, the statistics,
    its years and whatever else is asked for: the series itself, annual metrics, events, the plot.
    The comparison with its past is made from those years on the thread that takes the results
    (``run``'s caller): a few dozen values of Python work that, done in sixteen workers, would hold
    that thread up behind Python's lock (docs/benchmarks.md has the figures)."""

    def __init__(self, fetcher: Fetcher, reader: str, threshold: float, max_concurrent: int,
                 plots_dir: str | None = None, keep_series: bool = False, annual: bool = False,
                 events: bool = False):
        self.fetcher = fetcher
        self.reader = reader
        self.threshold = threshold
        self.max_concurrent = max_concurrent
        self.plots_dir = plots_dir
        self.keep_series = keep_series
        self.annual = annual
        self.events = events
        self._stopped = threading.Event()

    def load(self, job: LoadJob | SiteJob) -> Loaded:
        """One polygon, start to end, on this thread."""
        return self._compare(self._read(job))

    def _read(self, job: LoadJob | SiteJob) -> Loaded:
        """A worker's part of one polygon or site; every expected failure becomes a reason."""
        try:
            if isinstance(job, SiteJob):
                return self._site(job)
            return self._measure(job.ident, self._series(job), job.area_ha)
        except _Unloaded as unloaded:
            return unloaded.loaded
        except Exception as error:  # a bug must not stop the other polygons
            return Loaded(FAILED, error="internal error: %r" % (error,))

    def _series(self, job: LoadJob) -> Series:
        """The polygon's merged series; ``_Unloaded`` when it has none to give."""
        locations = parse_locations(job.location)
        if not locations:
            raise _Unloaded(Loaded(NO_RESULT))
        if job.dispatch_status not in (None, SUCCEEDED):
            # Some of its increments have no result: statistics of what is left would mislead.
            raise _Unloaded(Loaded(FAILED, error="its dispatch is '%s' (wit_status), so its series is incomplete: "
                                   "run Dispatch WIT again (RETRY_FAILED for failed jobs)" % job.dispatch_status))
        parts = []
        for number, location in enumerate(locations, 1):
            try:
                parts.append(read_series(self.fetcher.fetch(location), self.reader))
            except (FetchError, TableError) as reason:
                where = "increment %d of %d (%s): " % (number, len(locations), location) if len(locations) > 1 else ""
                raise _Unloaded(Loaded(FAILED, error=where + str(reason))) from None
        return merge(parts)

    def _site(self, job: SiteJob) -> Loaded:
        """The site from its subsites read one after another in this worker: combined as the last
        arrives, so a site holds at most its own subsites' series."""
        loaded, problems, statuses = [], [], []
        for subsite in job.subsites:
            if self._stopped.is_set():  # cancelled: the rest of the site is not downloaded
                raise _Unloaded(Loaded(FAILED, error="cancelled"))
            try:
                if subsite.area_ha is None or not subsite.area_ha > 0:
                    raise _Unloaded(Loaded(FAILED, error="it has no area (an empty geometry) to weigh it by"))
                loaded.append((self._series(subsite), subsite.area_ha))
                statuses.append(LOADED)
            except _Unloaded as unloaded:
                statuses.append(unloaded.loaded.status)
                problems.append("subsite %s: %s" % (subsite.ident, unloaded.loaded.error or unloaded.loaded.status))
        site_stats = {"wit_subsites": len(job.subsites), "wit_subsites_loaded": len(loaded), "wit_dropped_dates": None}
        if not loaded:  # a fault is not mistaken for a site without results
            site = Loaded(FAILED if FAILED in statuses else NO_RESULT, error="; ".join(problems))
        else:
            combined = combine(loaded, job.cover)
            about = "site of %d subsites (%d loaded): %d dates kept, %d under %.0f %% cover dropped" % (
                len(job.subsites), len(loaded), len(combined.series), combined.dropped_dates, 100 * job.cover)
            site = self._measure(job.ident, combined.series, combined.area, about)
            site.error = "; ".join(problems + ([site.error] if site.error else []))
            site_stats["wit_dropped_dates"] = combined.dropped_dates
        site.stats.update(site_stats)
        site.subsites = statuses
        return site

    def _measure(self, ident: str, series: Series, area_ha: float | None, about: str = "") -> Loaded:
        """What is asked for of one wetland's series, and its years for the comparison with the past;
        ``about`` the wetland, for its plot."""
        years = years_of(series, self.threshold)
        loaded = Loaded(LOADED, stats=statistics(series, self.threshold, area_ha),
                        series=series if self.keep_series else None, years=years)
        loaded.stats[YEARLY_PEAKS] = yearly_peaks(years)
        if self.annual:
            loaded.annual = annual_metrics(series, years).rows()
        if self.events:
            loaded.events = inundation_events(series, self.threshold, area_ha)
        if self.plots_dir and len(series) and not self._stopped.is_set():  # the plot says it under its title
            subtitle = summary(self._compare(loaded).stats)
            loaded.plot, loaded.error = self._plot(series, ident, "%s\n%s" % (about, subtitle) if about else subtitle)
        return loaded

    @staticmethod
    def _compare(loaded: Loaded) -> Loaded:
        """``loaded`` with the comparison with the past in its statistics, once."""
        return ResultLoader._compare_all([loaded])[0]

    @staticmethod
    def _compare_all(batch: list[Loaded]) -> list[Loaded]:
        """Each of ``batch`` with the comparison with the past in its statistics, once: computed
        together (``histories``), or one by one where that fails, so a bug costs only its polygon."""
        waiting = [loaded for loaded in batch if loaded.years is not None]
        try:
            found = histories([loaded.years for loaded in waiting])
        except Exception as error:  # a bug must not stop the other polygons; the statistics stand
            if len(waiting) > 1:
                for loaded in waiting:
                    ResultLoader._compare(loaded)
            else:
                waiting[0].error = "internal error in the comparison with the past: %r" % (error,)
                waiting[0].years = None
            return batch
        for loaded, past in zip(waiting, found):
            loaded.stats.update(past.fields())
            loaded.years = None
        return batch

    def _plot(self, series: Series, ident: str, subtitle: str) -> tuple[str, str]:
        """(path, '') once written, else ('', why): a plot that fails keeps the statistics."""
        from .plot import plot_name, write_plot  # matplotlib only when plots are asked for

        path = os.path.join(self.plots_dir, plot_name(ident))
        try:
            write_plot(series, ident, path, subtitle)
        except Exception as error:  # any plotting failure is reported, never fatal
            return "", "the plot could not be written: %s" % (getattr(error, "strerror", None) or error)
        return path, ""

    def run(self, items: Iterable[tuple[Any, LoadJob | SiteJob]],
            cancelled: Callable[[], bool]) -> Iterator[tuple[Any, Loaded]]:
        """(item, Loaded) in input order; stops promptly when ``cancelled()`` turns true."""
        window = 2 * self.max_concurrent
        pending: deque[tuple[Any, Future]] = deque()
        source = iter(items)
        pool = _DaemonPool(self.max_concurrent, self._read)
        exhausted = False

        def fill(held: int = 0) -> None:
            """Submit until ``window`` polygons are in the pool or ready (``held`` of them) to be handed out."""
            nonlocal exhausted
            while not exhausted and len(pending) + held < window:
                item = next(source, None)
                if item is None:
                    exhausted = True
                    return
                pending.append((item[0], pool.submit(item[1])))

        try:
            while True:
                fill()
                if not pending:
                    return
                head = pending[0][1]
                while not head.done():
                    if cancelled():
                        return
                    wait([head], timeout=CANCEL_CHECK_SECONDS, return_when=FIRST_COMPLETED)
                ready = [pending.popleft()]
                while pending and pending[0][1].done():
                    ready.append(pending.popleft())
                # Every result read so far is compared with its past at once (``_compare_all``), those
                # behind the head too: the fewer, larger batches, the less the loading thread waits
                # for Python's lock. A result is compared once, so later batches skip those.
                ready_loaded = [future.result() for _, future in ready]
                self._compare_all(ready_loaded + [future.result() for _, future in pending if future.done()])
                for handed, ((item, _), loaded) in enumerate(zip(ready, ready_loaded)):
                    fill(len(ready) - handed)  # the workers read on while these are handed out
                    if cancelled():
                        return
                    yield item, loaded
        finally:
            self._stopped.set()
            pool.shutdown()


class _Unloaded(Exception):
    """A polygon with no series to give, and what to say of it."""

    def __init__(self, loaded: Loaded) -> None:
        super().__init__(loaded.error)
        self.loaded = loaded


class _DaemonPool:
    """Worker threads that never hold the process at exit.

    concurrent.futures joins its workers when Python shuts down, so a read hung on the
    network would keep qgis_process alive minutes after a cancel; these are daemons.
    """

    def __init__(self, workers: int, task: Callable[[Any], Any]):
        self._task = task
        self._todo: queue.Queue = queue.Queue()
        self._workers = workers
        for number in range(workers):
            threading.Thread(target=self._work, daemon=True, name="wit-load-%d" % number).start()

    def submit(self, argument) -> Future:
        future: Future = Future()
        self._todo.put((future, argument))
        return future

    def shutdown(self) -> None:
        """Cancel what has not started; each worker ends after its current item."""
        while True:
            try:
                future, _ = self._todo.get_nowait()
            except queue.Empty:
                break
            future.cancel()
        for _ in range(self._workers):
            self._todo.put(None)

    def _work(self) -> None:
        while True:
            item = self._todo.get()
            if item is None:
                return
            future, argument = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._task(argument))
            except BaseException as error:  # handed to the waiting thread
                future.set_exception(error)

