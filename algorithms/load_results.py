"""Load WIT results: the dispatch output's result locations → statistics, a time-series table and plots.

A thin Processing layer over ``wit_provider.results.loader``: parameters, checks that fail
before any download, features in and out, feedback. Workers get plain data only (ID,
location, area); features, sinks and feedback stay on the thread running the algorithm.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureRequest,
    QgsFeatureSink,
    QgsFields,
    QgsGeometry,
    QgsProcessingException,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QDate

from ..wit_provider.qgis_bridge.geometry import ellipsoid_area
from ..wit_provider.qgis_bridge.network import ca_bundle, proxy_rule
from ..wit_provider.results.fetch import Fetcher, S3Settings, check_endpoint
from ..wit_provider.results.gpkg_rows import UnsuitableTable
from ..wit_provider.results.history import HISTORY_FIELDS
from ..wit_provider.results.loader import (
    FAILED,
    LOAD_STATUSES,
    LOADED,
    NO_RESULT,
    Loaded,
    LoadJob,
    ResultLoader,
    SiteJob,
)
from ..wit_provider.results.metrics import ANNUAL_NAMES, EVENT_NAMES, YEARLY_PEAKS, year_bounds
from ..wit_provider.results.processes import process_count
from ..wit_provider.results.sites import SITE_COVER
from ..wit_provider.results.table import FRACTIONS, STAT_FIELDS, Series, install_hint, reader_name
from .base import ExtendedFeatures, WitAlgorithm, extended_fields, table_fields
from .interrupt import interrupts_as_cancel
from .qgis_compat import (
    DOUBLE,
    INTEGER,
    SKIP_GEOMETRY_CHECKS,
    STRING_FIELDS,
    VECTOR_ANY,
    VECTOR_POLYGON,
    advanced,
    value_or_none,
)
from .sites import SITE_FIELDS, group_sites, overlap_warning, site_feature, site_items
from .styling import relate_on_completion, store_styles, style_on_completion
from .tables import TableOutput, closed_at_end, file_key, geopackage_table, table_output

_PROVIDER_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # not a drive letter (C:\\…)
DISPATCH_STATUS = "wit_status"  # Dispatch WIT's status field: only a succeeded polygon has a whole series
_INTEGER_STATS = ("wit_obs", "wit_events", "wit_longest_event_days", "wit_latest_year")
_TEXT_STATS = ("wit_regime", "wit_trend")
_DATE_STATS = ("wit_first", "wit_last", "wit_last_wet")
_STATS = STAT_FIELDS + HISTORY_FIELDS + (YEARLY_PEAKS,)  # each polygon's, from the loader
# wit_id: the polygon's name in TIMESERIES, ANNUAL, EVENTS and the plot files (ID_FIELD, else the feature id).
LOAD_FIELDS = [("wit_id", "string", 0), ("wit_load_status", "string", 16), ("wit_load_error", "string", 0),
               ("wit_plot", "string", 0)]
ANNUAL_FIELDS = [("id", "string"), ("year", "int"), ("start", "date"), ("end", "date"), ("obs", "int"),
                 ("wet_obs", "int"), ("valid", "int")] + [
    (name, "int" if name.endswith(("_n25", "_n75")) else "double") for name in ANNUAL_NAMES]
EVENT_FIELDS = [("id", "string")] + [(name, "date" if name in ("start", "end") else "int" if name in (
    "event", "duration_days", "gap_days") else "double") for name in EVENT_NAMES]
SERIES_FIELDS = table_fields([("id", "string", 254), ("time", "datetime")] + [(name, "double") for name in FRACTIONS])
ANNUAL_TABLE, EVENTS_TABLE = table_fields(ANNUAL_FIELDS), table_fields(EVENT_FIELDS)


class LoadResultsAlgorithm(WitAlgorithm):
    URL_FIELD = "URL_FIELD"
    ID_FIELD = "ID_FIELD"
    GROUP_FIELD = "GROUP_FIELD"
    SITE_COVER = "SITE_COVER"
    S3_ENDPOINT = "S3_ENDPOINT"
    AWS_PROFILE = "AWS_PROFILE"
    S3_UNSIGNED = "S3_UNSIGNED"
    WET_THRESHOLD = "WET_THRESHOLD"
    MAX_CONCURRENT = "MAX_CONCURRENT"
    OUTPUT = "OUTPUT"
    TIMESERIES = "TIMESERIES"
    ANNUAL = "ANNUAL"
    ANNUAL_OUTLINES = "ANNUAL_OUTLINES"
    EVENTS = "EVENTS"
    PLOTS = "PLOTS"
    DOCS_PAGE = "results.md"

    def name(self) -> str:
        return "loadresults"

    def displayName(self) -> str:
        return self.tr("Load WIT results")

    def shortHelpString(self) -> str:
        return self.tr(
            "Reads each polygon's WIT result (parquet) and adds statistics to the polygons, writes the time "
            "series as a table and DEA's stacked WIT plot per polygon.\n\n"
            "<b>Result field</b>: one location (s3://bucket/key, https://… or a file path) or a JSON array of "
            "them in time order, merged into one series (repeated timestamps dropped). Typically Dispatch WIT's "
            "wit_url.\n"
            "<b>ID field</b>: names polygons in the table, plot files and titles (else the feature id).\n"
            "<b>S3 endpoint</b>: an S3-compatible store, path-style, e.g. http://127.0.0.1:9000 (empty = AWS).\n"
            "<b>AWS profile</b> / <b>Unsigned</b>: credentials come from the environment, ~/.aws profiles or "
            "an instance role; unsigned for public buckets.\n"
            "<b>Wet threshold</b>: an observation is wet when water + wet is at least this (DEA's definition).\n"
            "<b>Downloads at once</b>: the size of the download pool.\n\n"
            "Fields added: wit_obs, wit_first, wit_last, wit_wet_pct, wit_water_pct, wit_max_wet, "
            "wit_max_wet_ha, wit_mean_water, wit_mean_wet, wit_mean_pv, wit_mean_npv, wit_mean_bs, wit_events, "
            "wit_longest_event_days, wit_last_wet, wit_wet_max_by_year (each year's peak wet extent, %, as JSON "
            "keyed by year: what the Year by year style colours), wit_id (the name in the tables and plots), "
            "wit_load_status (loaded, failed or no result), "
            "wit_load_error and wit_plot. A polygon that cannot be loaded is failed with the reason; the run "
            "goes on.\n\n"
            "<b>Now against the past</b>, over the valid years (UTC calendar years with at least 4 "
            "observations): wit_regime (permanent, seasonal, intermittent, episodic or dry: this plugin's "
            "classification, from 5 valid years), wit_trend (wetter, drier or no trend: Mann–Kendall on each "
            "year's peak wet extent, p below 0.05), wit_trend_slope (Sen's slope, percentage points per decade) "
            "and wit_trend_p (from 8 valid years), and the last valid year's standing: wit_latest_year, "
            "wit_latest_wet_max (%), wit_latest_rank_pct (percent of earlier valid years it exceeds, ties "
            "half) and wit_latest_anomaly (percentage points over their median; from 5 earlier valid years). "
            "NULL where there are too few years.\n\n"
            "<b>Site field</b> (advanced, optional): polygons sharing a value are one wetland, a site (a NULL "
            "value: a site of its own). Its series has one observation per UTC date on which its loaded subsites "
            "observed at least the <b>share of a site a date must cover</b> (default 0.9) of its area, each "
            "fraction the area-weighted mean of theirs; every output is then per site: one multipolygon "
            "feature with the first subsite's fields, wit_id the site's value, wit_subsites, "
            "wit_subsites_loaded and wit_dropped_dates, hectares of the loaded subsites' area. Subsites not "
            "loaded, and subsites that overlap, are named in wit_load_error.\n\n"
            "<b>Year by year</b>: the statistics layer's style (Styles in its context menu) that colours each "
            "wetland by the peak wet extent of the year the Temporal Controller's frame starts in.\n"
            "<b>Annual metrics</b> (optional table): one row per wetland and calendar year (UTC) with start and "
            "end dates, the observations, the wet ones (wet_obs), valid (1 with at "
            "least 4 observations), and the max, min, mean, median and the "
            "counts at or over 0.25 and 0.75 of water, wet, pv, npv, bs, wetw (water + wet), pv_wet and veg_wet "
            "(DEA's annual metrics). <b>Annual metrics with each wetland's outline</b> (advanced): each row a "
            "polygon, a layer of its own in the Temporal Controller; about 34 copies of each outline, so for "
            "layers of thousands of wetlands, not a national one.\n"
            "<b>Inundation events</b> (optional table): one row per run of consecutive wet observations: "
            "start, end, duration_days, gap_days, max_wet, mean_wet and those in hectares.\n\n"
            "Needs a parquet reader: GDAL's Parquet driver (QGIS 3.30+ installers) or pyarrow in QGIS's Python.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("Polygons with WIT results"), [VECTOR_POLYGON]))
        self.addParameter(QgsProcessingParameterField(
            self.URL_FIELD, self.tr("Result field (default wit_url)"), "wit_url", self.INPUT,
            STRING_FIELDS, optional=True))  # QGIS 3.22 refuses a missing value otherwise
        self.addParameter(QgsProcessingParameterField(
            self.ID_FIELD, self.tr("ID field (default: feature id)"), None, self.INPUT, optional=True))
        self.addParameter(advanced(QgsProcessingParameterField(
            self.GROUP_FIELD, self.tr("Site field: polygons sharing a value are one wetland (optional)"), None,
            self.INPUT, optional=True)))
        self.addParameter(advanced(QgsProcessingParameterNumber(
            self.SITE_COVER, self.tr("Share of a site a date must cover (0-1)"), DOUBLE, SITE_COVER,
            minValue=0, maxValue=1)))
        self.addParameter(advanced(QgsProcessingParameterString(
            self.S3_ENDPOINT, self.tr("S3 endpoint (empty = AWS)"), optional=True)))
        self.addParameter(advanced(QgsProcessingParameterString(
            self.AWS_PROFILE, self.tr("AWS profile"), optional=True)))
        self.addParameter(advanced(QgsProcessingParameterBoolean(
            self.S3_UNSIGNED, self.tr("Unsigned S3 requests (public buckets)"), False)))
        self.addParameter(advanced(QgsProcessingParameterNumber(
            self.WET_THRESHOLD, self.tr("Wet threshold (water + wet, 0-1)"), DOUBLE,
            0.01, minValue=0, maxValue=1)))
        self.addParameter(advanced(QgsProcessingParameterNumber(
            self.MAX_CONCURRENT, self.tr("Downloads at once"), INTEGER, 8,
            minValue=1, maxValue=64)))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("WIT statistics"), VECTOR_POLYGON))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.TIMESERIES, self.tr("WIT time series"), VECTOR_ANY, optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.ANNUAL, self.tr("WIT annual metrics"), VECTOR_ANY, optional=True, createByDefault=False))
        self.addParameter(advanced(QgsProcessingParameterBoolean(
            self.ANNUAL_OUTLINES, self.tr("Annual metrics with each wetland's outline (thousands of wetlands, "
                                          "not a national layer)"), False)))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.EVENTS, self.tr("WIT inundation events"), VECTOR_ANY, optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.PLOTS, self.tr("Folder for WIT plots"), optional=True, createByDefault=False))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        source = self.polygon_source(parameters, context)
        url_field = self._field(parameters, self.URL_FIELD, context) or "wit_url"
        if source.fields().lookupField(url_field) < 0:
            raise QgsProcessingException(self.tr("URL_FIELD: layer '{}' has no field '{}'.").format(
                source.sourceName(), url_field))
        id_field = self._field(parameters, self.ID_FIELD, context)
        group_field = self._field(parameters, self.GROUP_FIELD, context)
        for name, chosen in ((self.ID_FIELD, id_field), (self.GROUP_FIELD, group_field)):
            if chosen and source.fields().lookupField(chosen) < 0:
                raise QgsProcessingException(self.tr("{}: layer '{}' has no field '{}'.").format(
                    name, source.sourceName(), chosen))
        endpoint = self.parameterAsString(parameters, self.S3_ENDPOINT, context).strip()
        if endpoint:
            try:
                check_endpoint(endpoint)
            except ValueError as error:
                raise QgsProcessingException(str(error)) from None
        reader = reader_name()
        if reader is None:
            raise QgsProcessingException(install_hint(QgsApplication.qgisSettingsDirPath()))
        plots = self.parameterAsString(parameters, self.PLOTS, context).strip()
        plots_dir = os.path.abspath(plots) if plots else None  # absolute: the map tip and action need it
        if plots_dir:
            if importlib.util.find_spec("matplotlib") is None:
                raise QgsProcessingException(self.tr(
                    "PLOTS needs matplotlib in QGIS's Python (Debian: apt-get install python3-matplotlib); "
                    "leave PLOTS empty to load statistics only."))
            try:
                os.makedirs(plots_dir, exist_ok=True)
            except OSError as error:
                raise QgsProcessingException(self.tr("PLOTS: cannot create folder {}: {}").format(
                    plots_dir, error.strerror)) from None

        for name in (self.OUTPUT, self.TIMESERIES, self.ANNUAL, self.EVENTS):
            self._check_destination(parameters, name, context)
        fields = output_fields(source.fields(), sites=bool(group_field))
        # A site's polygons are collected into one multipolygon: every feature is multi then.
        wkb_type = QgsWkbTypes.multiType(source.wkbType()) if group_field else source.wkbType()
        sink, dest_id = self._sink(parameters, self.OUTPUT, context, fields, wkb_type, source.sourceCrs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        outlines = self.parameterAsBool(parameters, self.ANNUAL_OUTLINES, context)
        opened = {name: (*self._sink(parameters, name, context, table, kind, crs), table)
                  for name, table, kind, crs in (
            (self.TIMESERIES, SERIES_FIELDS, QgsWkbTypes.Type.NoGeometry, None),
            (self.ANNUAL, ANNUAL_TABLE, wkb_type if outlines else QgsWkbTypes.Type.NoGeometry, source.sourceCrs()),
            (self.EVENTS, EVENTS_TABLE, QgsWkbTypes.Type.NoGeometry, None))}
        series_id, annual_id, events_id = (table_id for _, table_id, _ in opened.values())
        wanted = {name: table_sink is not None for name, (table_sink, _, _) in opened.items()}
        styled_annual = annual_id if outlines else ""  # a table of ANNUAL has no style to store or apply

        fetcher = Fetcher(S3Settings(endpoint, self.parameterAsString(parameters, self.AWS_PROFILE, context).strip(),
                                     self.parameterAsBool(parameters, self.S3_UNSIGNED, context)),
                          ca_bundle=ca_bundle(), proxy=proxy_rule())
        statistics_rows = StatisticsRows(fields, sites=bool(group_field))
        area = ellipsoid_area(source.sourceCrs(), context.transformContext(), context.ellipsoid())
        status_field = DISPATCH_STATUS if source.fields().lookupField(DISPATCH_STATUS) >= 0 else ""
        jobs = _Jobs(source.fields(), id_field, url_field, status_field, area)
        if group_field:
            order = group_sites(source, group_field, feedback)
            feedback.pushInfo(self.tr("{} sites of '{}'.").format(len(order), group_field))
            items = site_items(source, order, jobs.job, self.parameterAsDouble(parameters, self.SITE_COVER, context))
            total = max(len(order), 1)
        else:
            items = (((feature, job), job) for feature in source.getFeatures(QgsFeatureRequest(), SKIP_GEOMETRY_CHECKS)
                     for job in (jobs.job(feature),))
            total = max(source.featureCount(), 1)  # -1 where a provider cannot count
        downloads = self.parameterAsInt(parameters, self.MAX_CONCURRENT, context)
        loader = ResultLoader(fetcher, reader, self.parameterAsDouble(parameters, self.WET_THRESHOLD, context),
                              downloads, plots_dir, keep_series=wanted[self.TIMESERIES], annual=wanted[self.ANNUAL],
                              events=wanted[self.EVENTS], processes=process_count(total, downloads))
        feedback.pushInfo(self.tr("Reading parquet with {}; {} polygons; {}.").format(
            reader, source.featureCount(), self.tr("measured in {} worker processes").format(loader.processes)
            if loader.processes else self.tr("measured in the download threads")))
        url_index = source.fields().lookupField(url_field)
        seen: set[str] = set()
        counts = dict.fromkeys(LOAD_STATUSES, 0)
        started = time.monotonic()
        tables = self._tables(opened, dest_id, self._files_read(parameters, context), parameters, outlines)
        del opened  # its sinks are the tables' own now
        with interrupts_as_cancel(feedback), closing(fetcher), closed_at_end(tables) as (series, annual, events):
            for (feature, job), loaded in loader.run(items, feedback.isCanceled):
                if group_field:  # a site (or a polygon of its own) as one multipolygon feature
                    subsites, feature = feature, site_feature(feature, url_index)
                    if isinstance(job, SiteJob):
                        if loaded.status == LOADED:
                            loaded.error = "; ".join(filter(None, (loaded.error, overlap_warning(
                                subsites, job, loaded, area))))
                    else:
                        loaded.stats.update(wit_subsites=1, wit_subsites_loaded=int(loaded.status == LOADED),
                                            wit_dropped_dates=0 if loaded.status == LOADED else None)
                    if job.ident in seen:  # its rows in TIMESERIES, ANNUAL and EVENTS would mix with another's
                        feedback.pushWarning(self.tr("wit_id '{}' names two sites (a site's value and a polygon's "
                                                     "ID_FIELD value): their tables' rows mix").format(job.ident))
                    seen.add(job.ident)
                counts[loaded.status] += 1
                sink.addFeature(statistics_rows.feature(feature, job.ident, loaded), QgsFeatureSink.Flag.FastInsert)
                if series is not None and loaded.series is not None:
                    series.add(timeseries_rows(series, job.ident, loaded.series))
                if loaded.annual:
                    annual.add(annual_rows(annual, job.ident, loaded.annual),
                               feature.geometry() if outlines else None)
                if loaded.events:
                    events.add(event_rows(events, job.ident, loaded.events))
                if loaded.error:  # a failure, a site's unloaded subsites, a plot not written
                    feedback.pushInfo(self.tr("{}: {}").format(job.ident, loaded.error))
                feedback.setProgress(min(100.0, 100.0 * sum(counts.values()) / total))
        if loader.processes_problem:  # nothing lost: what the processes did not measure, the threads did
            feedback.pushWarning(self.tr("Worker processes: {}; the download threads measured the rest.").format(
                loader.processes_problem))
        del sink  # the file closed, so its styles can be stored
        for stored_id, kind in ((dest_id, "results"), (styled_annual, "annual")):
            problem = store_styles(stored_id, kind) if stored_id else ""
            if problem:
                feedback.pushWarning(self.tr("{}: the style was not stored in the file: {}").format(stored_id, problem))
        done = sum(counts.values())
        feedback.pushInfo(self.tr("Summary: {}; {:.1f} s.").format(
            ", ".join("{} {}".format(n, s) for s, n in counts.items()), time.monotonic() - started))
        if feedback.isCanceled():
            feedback.pushWarning(self.tr("Cancelled: the output has the first {} {}.").format(
                done, "sites" if group_field else "polygons"))
        results = {self.OUTPUT: dest_id, "LOADED": counts[LOADED], "FAILED": counts[FAILED],
                   "NO_RESULT": counts[NO_RESULT]}
        for name, sink_id in ((self.TIMESERIES, series_id), (self.ANNUAL, annual_id), (self.EVENTS, events_id)):
            if sink_id:
                results[name] = sink_id
        if plots_dir:
            results[self.PLOTS] = plots_dir
        style_on_completion(context, dest_id, "results")
        if styled_annual:
            style_on_completion(context, styled_annual, "annual")
        # A results polygon's form lists its years and events.
        relate_on_completion(context, dest_id, "wit_id", {"WIT annual metrics": annual_id,
                                                          "WIT inundation events": events_id})
        return results

    def _field(self, parameters, name, context) -> str:
        chosen = self.parameterAsFields(parameters, name, context)
        return chosen[0] if chosen else ""

    def _tables(self, opened: dict, dest_id: str, inputs: list[str], parameters: dict,
                outlines: bool) -> list[TableOutput | None]:
        """The outputs of ``opened``'s (sink, destination, fields), None where not asked for. A
        GeoPackage another layer of the run uses (``dest_id``, the other tables, ``inputs``) gets
        features: two writers to one SQLite file, or a writer and a reader, wait on each other."""
        layers = [dest_id] + [table_id for _, table_id, _ in opened.values()]
        files = Counter(file_key(found[0]) for found in map(geopackage_table, layers) if found)
        shared = {path for path, users in files.items() if users > 1} | {
            file_key(found[0]) for found in map(geopackage_table, inputs) if found}
        tables: list[TableOutput | None] = []
        for name, (table_sink, table_id, fields) in opened.items():
            definition = parameters.get(name)
            appended = isinstance(definition, QgsProcessingOutputLayerDefinition) and definition.useRemapping()
            try:
                tables.append(None if table_sink is None else table_output(
                    table_sink, table_id, fields, shared, name,
                    as_features=appended or (name == self.ANNUAL and outlines)))
            except (UnsuitableTable, sqlite3.Error) as error:
                with closed_at_end(tables):  # those opened already: their files as QGIS made them
                    raise QgsProcessingException(self.tr("{}: cannot write {}: {}").format(
                        name, table_id, error)) from None
        return tables

    def _files_read(self, parameters: dict, context) -> list[str]:
        """The sources of the layers the run reads (INPUT), for ``_tables``."""
        layer = self.parameterAsVectorLayer(parameters, self.INPUT, context)
        return [layer.source()] if layer is not None else []

    def _check_destination(self, parameters, name, context) -> None:
        """A file destination whose folder is missing or read-only is refused before any sink is
        created and anything is downloaded, naming the parameter."""
        if not parameters.get(name):
            return
        path = (self.parameterAsOutputLayer(parameters, name, context) or "").split("|", 1)[0]
        if not path or _PROVIDER_URI.match(path):  # memory:, ogr:dbname=…, postgres://…: QGIS checks those
            return
        folder = os.path.dirname(os.path.abspath(path)) or "."
        if not os.path.isdir(folder):
            raise QgsProcessingException(self.tr("{}: cannot write {}: the folder {} does not exist.").format(
                name, path, folder))
        target = path if os.path.exists(path) else folder
        if not os.access(target, os.W_OK):
            raise QgsProcessingException(self.tr("{}: cannot write {}: {} is not writable.").format(
                name, path, target))

    def _sink(self, parameters, name, context, fields, wkb_type, crs=None):
        """parameterAsSink, with a failure that names the parameter."""
        try:
            return self.parameterAsSink(parameters, name, context, fields, wkb_type,
                                        crs or QgsCoordinateReferenceSystem())
        except QgsProcessingException as error:
            raise QgsProcessingException(self.tr("{}: {}").format(name, error)) from None


def output_fields(input_fields: QgsFields, sites: bool = False) -> QgsFields:
    """The input fields plus the statistics and the load status (reused if the input has them), and
    with ``sites`` (GROUP_FIELD) each site's subsites and dropped dates."""
    stats = [(name, "int" if name in _INTEGER_STATS else "date" if name in _DATE_STATS else
              "string" if name in _TEXT_STATS or name == YEARLY_PEAKS else "double", 16 if name in _TEXT_STATS else 0)
             for name in _STATS]
    return extended_fields(input_fields, stats + (SITE_FIELDS if sites else []) + LOAD_FIELDS)


class StatisticsRows:
    """Statistics-layer features: the input polygon with its statistics, its comparison with the
    past and how its load went."""

    def __init__(self, fields: QgsFields, sites: bool = False):
        self._names = _STATS + (tuple(name for name, _, _ in SITE_FIELDS) if sites else ())
        self._dates = [name in _DATE_STATS for name in self._names]
        self._features = ExtendedFeatures(fields, self._names + tuple(name for name, _, _ in LOAD_FIELDS))

    def feature(self, feature: QgsFeature, ident: str, loaded: Loaded) -> QgsFeature:
        stats = loaded.stats
        values = [_date(stats.get(name)) if is_date else stats.get(name)
                  for name, is_date in zip(self._names, self._dates)]
        values += [ident, loaded.status, loaded.error or None, loaded.plot or None]
        return self._features.feature(feature, values)


def _date(value):
    return None if value is None else QDate(value.year, value.month, value.day)


def timeseries_rows(table: TableOutput, ident: str, series: Series) -> list[list]:
    """One row per observation; times are UTC."""
    columns = [getattr(series, name).tolist() for name in FRACTIONS]
    return [[ident, moment, *values] for moment, *values in zip(table.moments(series.time), *columns)]


def annual_rows(table: TableOutput, ident: str, rows: list[list]) -> list[list]:
    """ANNUAL rows: each year of ``AnnualMetrics.rows()`` with its first and (exclusive) last day."""
    return [[ident, year, *map(table.day, year_bounds(year)), *values] for year, *values in rows]


def event_rows(table: TableOutput, ident: str, events: list[tuple]) -> list[list]:
    return [[ident, number, table.day(start), table.day(end), *values] for number, start, end, *values in events]


class _Jobs:
    """Each feature's LoadJob: ID, result location, area and dispatch status, read by the fields'
    positions, found once (a lookup by name per feature costs microseconds)."""

    def __init__(self, fields: QgsFields, id_field: str, url_field: str, status_field: str,
                 area: Callable[[QgsGeometry], float | None]):
        self._id, self._url, self._status = (fields.lookupField(name) if name else -1
                                             for name in (id_field, url_field, status_field))
        self._area = area

    def job(self, feature: QgsFeature) -> LoadJob:
        attributes = feature.attributes()
        ident = value_or_none(attributes[self._id]) if self._id >= 0 else None
        status = value_or_none(attributes[self._status]) if self._status >= 0 else None
        return LoadJob(str(feature.id()) if ident is None else str(ident), value_or_none(attributes[self._url]),
                       self._area(feature.geometry()), None if status is None else str(status))
