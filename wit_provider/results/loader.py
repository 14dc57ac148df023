"""Load every polygon's WIT result in a bounded pool and hand back summaries in input order.

Memory stays flat in the number of polygons: at most ``2 × max_concurrent`` polygons are
in the pool or waiting for their turn, and each file's rows are summarised (and plotted)
by the worker, thread or process, that measures them. A polygon whose result cannot be read is ``failed`` with
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
from functools import partial
from typing import Any

from ..common.job_states import FAILED, SUCCEEDED  # one vocabulary across both algorithms
from .fetch import Fetcher, FetchError, parse_locations
from .history import histories, summary
from .metrics import YEARLY_PEAKS, Years, annual_metrics, inundation_events, yearly_peaks, years_of
from .processes import WorkerProcesses
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


@dataclass(frozen=True)
class Measures:
    """What is made of each wetland's downloaded files, and how: plain values, so that a worker
    process (``processes``) gets them as a worker thread does."""

    reader: str
    threshold: float
    plots_dir: str | None = None
    keep_series: bool = False
    annual: bool = False
    events: bool = False

    def loaded(self, job: LoadJob | SiteJob, downloaded: list, stopped: Callable[[], bool] = lambda: False) -> Loaded:
        """``job`` from what ``ResultLoader`` downloaded of it; every expected failure becomes a reason."""
        try:
            if isinstance(job, SiteJob):
                return self._site(job, downloaded, stopped)
            return self._measure(job.ident, self._series(job, downloaded), job.area_ha, stopped)
        except _Unloaded as unloaded:
            return unloaded.loaded
        except Exception as error:  # a bug must not stop the other polygons
            return Loaded(FAILED, error="internal error: %r" % (error,))

    def _series(self, job: LoadJob, files: list) -> Series:
        """The polygon's merged series from its increments' files; ``_Unloaded`` for one that is not a WIT table."""
        locations = parse_locations(job.location)
        parts = []
        for number, (location, data) in enumerate(zip(locations, files), 1):
            if isinstance(data, Loaded):  # the increment that could not be downloaded
                raise _Unloaded(data)
            try:
                parts.append(read_series(data, self.reader))
            except TableError as reason:
                raise _Unloaded(Loaded(FAILED, error=_increment(number, locations, location) + str(reason))) from None
        return merge(parts)

    def _site(self, job: SiteJob, downloaded: list, stopped: Callable[[], bool]) -> Loaded:
        """The site from its subsites' files (each a list, or the Loaded saying why it has none),
        combined at once, so a site holds at most its own subsites' files and series."""
        loaded, problems, statuses = [], [], []
        for subsite, files in zip(job.subsites, downloaded):
            try:
                if isinstance(files, Loaded):
                    raise _Unloaded(files)
                loaded.append((self._series(subsite, files), subsite.area_ha))
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
            site = self._measure(job.ident, combined.series, combined.area, stopped, about)
            site.error = "; ".join(problems + ([site.error] if site.error else []))
            site_stats["wit_dropped_dates"] = combined.dropped_dates
        site.stats.update(site_stats)
        site.subsites = statuses
        return site

    def _measure(self, ident: str, series: Series, area_ha: float | None, stopped: Callable[[], bool],
                 about: str = "") -> Loaded:
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
        if self.plots_dir and len(series) and not stopped():  # the plot says it under its title
            subtitle = summary(compare_with_past([loaded])[0].stats)
            loaded.plot, loaded.error = self._plot(series, ident, "%s\n%s" % (about, subtitle) if about else subtitle)
        return loaded

    def _plot(self, series: Series, ident: str, subtitle: str) -> tuple[str, str]:
        """(path, '') once written, else ('', why): a plot that fails keeps the statistics."""
        from .plot import plot_name, write_plot  # matplotlib only when plots are asked for

        path = os.path.join(self.plots_dir, plot_name(ident))
        try:
            write_plot(series, ident, path, subtitle)
        except Exception as error:  # any plotting failure is reported, never fatal
            return "", "the plot could not be written: %s" % (getattr(error, "strerror", None) or error)
        return path, ""


def compare_with_past(batch: list[Loaded]) -> list[Loaded]:
    """Each of ``batch`` with the comparison with the past in its statistics, once: computed
    together (``histories``), or one by one where that fails, so a bug costs only its polygon."""
    waiting = [loaded for loaded in batch if loaded.years is not None]
    try:
        found = histories([loaded.years for loaded in waiting])
    except Exception as error:  # a bug must not stop the other polygons; the statistics stand
        if len(waiting) > 1:
            for loaded in waiting:
                compare_with_past([loaded])
        else:
            waiting[0].error = "internal error in the comparison with the past: %r" % (error,)
            waiting[0].years = None
        return batch
    for loaded, past in zip(waiting, found):
        loaded.stats.update(past.fields())
        loaded.years = None
    return batch


def _measured_in_process(measures: Measures, job: LoadJob | SiteJob, downloaded: list) -> Loaded:
    """A worker process's part of one wetland: all of it, its comparison with the past too (no
    other thread there waits for Python's lock)."""
    return compare_with_past([measures.loaded(job, downloaded)])[0]


def _warm_up(reader: str, gdal_exceptions: bool = False) -> None:
    """Run first in each worker process: the reader imported, and there, or the processes are not
    used; GDAL raising errors where QGIS has it raise them (QGIS 3.44), so failures read alike."""
    if reader == "gdal":
        from osgeo import gdal

        if gdal.GetDriverByName("Parquet") is None:
            raise ImportError("GDAL in a worker process has no Parquet driver")
        if gdal_exceptions:
            gdal.UseExceptions()
    else:
        import pyarrow.parquet  # noqa: F401


def _gdal_exceptions() -> bool:
    from osgeo import gdal

    return bool(gdal.GetUseExceptions())


def _increment(number: int, locations: list[str], location: str) -> str:
    """Which increment a failure is of, where a polygon has several."""
    return "increment %d of %d (%s): " % (number, len(locations), location) if len(locations) > 1 else ""


class ResultLoader:
    """Downloads each polygon's files in a bounded pool of threads, and has them measured
    (``Measures``) in the thread that downloaded them or, with ``processes``, in that many worker
    processes (``processes.WorkerProcesses``). The comparison with the past of what threads measured
    is made on the thread that takes the results (``run``'s caller), many at once: a few dozen values
    of Python work that, done in sixteen threads, would hold that thread up behind Python's lock
    (docs/benchmarks.md has the figures). After a run, ``measured_in_processes`` says how many
    wetlands the processes measured and ``processes_problem`` why they were not used, or stopped."""

    def __init__(self, fetcher: Fetcher, reader: str, threshold: float, max_concurrent: int,
                 plots_dir: str | None = None, keep_series: bool = False, annual: bool = False,
                 events: bool = False, processes: int = 0):
        self.fetcher = fetcher
        self.measures = Measures(reader, threshold, plots_dir, keep_series, annual, events)
        self.max_concurrent = max_concurrent
        self.processes = processes
        self.processes_problem = ""
        self.measured_in_processes = 0
        self._workers: WorkerProcesses | None = None
        self._stopped = threading.Event()

    def load(self, job: LoadJob | SiteJob) -> Loaded:
        """One polygon, start to end, on this thread."""
        return compare_with_past([self._read(job)])[0]

    def _read(self, job: LoadJob | SiteJob) -> Loaded:
        """A worker thread's part of one polygon or site: its files, then their measures."""
        try:
            downloaded = self._download(job)
        except _Unloaded as unloaded:
            return unloaded.loaded
        except Exception as error:  # a bug must not stop the other polygons
            return Loaded(FAILED, error="internal error: %r" % (error,))
        if self._workers is not None:
            done, loaded = self._workers.call(_measured_in_process, self.measures, job, downloaded)
            if done:
                return loaded
            if self._stopped.is_set():
                return Loaded(FAILED, error="cancelled")
        return self.measures.loaded(job, downloaded, self._stopped.is_set)

    def _download(self, job: LoadJob | SiteJob) -> list:
        """The files of a polygon (each increment's bytes), or of a site (each subsite's files, or the
        Loaded saying why it has none); ``_Unloaded`` when a polygon has nothing to measure."""
        if not isinstance(job, SiteJob):
            return self._files(job)
        downloaded = []
        for subsite in job.subsites:  # one after another in this worker: the pool stays bounded
            if self._stopped.is_set():  # cancelled: the rest of the site is not downloaded
                raise _Unloaded(Loaded(FAILED, error="cancelled"))
            try:
                if subsite.area_ha is None or not subsite.area_ha > 0:
                    raise _Unloaded(Loaded(FAILED, error="it has no area (an empty geometry) to weigh it by"))
                downloaded.append(self._files(subsite))
            except _Unloaded as unloaded:
                downloaded.append(unloaded.loaded)
        return downloaded

    def _files(self, job: LoadJob) -> list:
        """Each increment's file of one polygon, up to one that could not be downloaded (the Loaded
        saying why, last); ``_Unloaded`` when it has none to give."""
        locations = parse_locations(job.location)
        if not locations:
            raise _Unloaded(Loaded(NO_RESULT))
        if job.dispatch_status not in (None, SUCCEEDED):
            # Some of its increments have no result: statistics of what is left would mislead.
            raise _Unloaded(Loaded(FAILED, error="its dispatch is '%s' (wit_status), so its series is incomplete: "
                                   "run Dispatch WIT again (RETRY_FAILED for failed jobs)" % job.dispatch_status))
        files: list = []
        for number, location in enumerate(locations, 1):
            try:
                files.append(self.fetcher.fetch(location))
            except FetchError as reason:
                failed = Loaded(FAILED, error=_increment(number, locations, location) + str(reason))
                if not files:
                    raise _Unloaded(failed) from None
                files.append(failed)  # an earlier increment that is no WIT table is named first, as read in turn
                break
        return files

    def run(self, items: Iterable[tuple[Any, LoadJob | SiteJob]],
            cancelled: Callable[[], bool]) -> Iterator[tuple[Any, Loaded]]:
        """(item, Loaded) in input order; stops promptly when ``cancelled()`` turns true."""
        window = 2 * self.max_concurrent
        pending: deque[tuple[Any, Future]] = deque()
        source = iter(items)
        if self.processes:
            try:
                self._workers = WorkerProcesses(self.processes, partial(
                    _warm_up, self.measures.reader, self.measures.reader == "gdal" and _gdal_exceptions()))
            except Exception as error:  # measured in the threads instead
                self.processes_problem = "the worker processes did not start: %s" % (error,)
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
                # Every result read so far is compared with its past at once (``compare_with_past``), those
                # behind the head too: the fewer, larger batches, the less the loading thread waits
                # for Python's lock. A result is compared once, so later batches skip those.
                ready_loaded = [future.result() for _, future in ready]
                compare_with_past(ready_loaded + [future.result() for _, future in pending if future.done()])
                for handed, ((item, _), loaded) in enumerate(zip(ready, ready_loaded)):
                    fill(len(ready) - handed)  # the workers read on while these are handed out
                    if cancelled():
                        return
                    yield item, loaded
        finally:
            self._stopped.set()
            pool.shutdown()
            if self._workers is not None:
                self._workers.close()
                self.measured_in_processes = self._workers.done
                if self._workers.problem:
                    self.processes_problem = "the worker processes stopped (%s)" % self._workers.problem
                self._workers = None


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

