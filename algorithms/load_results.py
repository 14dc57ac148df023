"""Load WIT results: the dispatch output's result locations → statistics, a time-series table and plots.

A thin Processing layer over ``wit_provider.result_loader``: parameters, checks that fail
before any download, features in and out, feedback. Workers get plain data only (ID,
location, area); features, sinks and feedback stay on the thread running the algorithm.
"""

from __future__ import annotations

import importlib.util
import os
import time
from contextlib import closing

from qgis.core import (
    QgsApplication,
    QgsDistanceArea,
    QgsFeature,
    QgsFeatureRequest,
    QgsFeatureSink,
    QgsFields,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsUnitTypes,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QVariant

from ..wit_provider.network import ca_bundle, proxy_rule
from ..wit_provider.result_fetch import Fetcher, S3Settings, check_endpoint
from ..wit_provider.result_loader import FAILED, LOAD_STATUSES, LOADED, NO_RESULT, Loaded, LoadJob, ResultLoader
from ..wit_provider.wit_table import FRACTIONS, STAT_FIELDS, install_hint, reader_name
from .base import WitAlgorithm, extended_feature, extended_fields
from .interrupt import interrupts_as_cancel
from .qgis_compat import DOUBLE, INTEGER, SKIP_GEOMETRY_CHECKS, STRING_FIELDS, VECTOR_ANY, VECTOR_POLYGON, field
from .styling import style_on_completion

DEFAULT_ELLIPSOID = "WGS84"
DISPATCH_STATUS = "wit_status"  # Dispatch WIT's status field: only a succeeded polygon has a whole series
_INTEGER_STATS = ("wit_obs", "wit_events", "wit_longest_event_days")
_DATE_STATS = ("wit_first", "wit_last", "wit_last_wet")
LOAD_FIELDS = [("wit_load_status", "string", 16), ("wit_load_error", "string", 0), ("wit_plot", "string", 0)]


class LoadResultsAlgorithm(WitAlgorithm):
    URL_FIELD = "URL_FIELD"
    ID_FIELD = "ID_FIELD"
    S3_ENDPOINT = "S3_ENDPOINT"
    AWS_PROFILE = "AWS_PROFILE"
    S3_UNSIGNED = "S3_UNSIGNED"
    WET_THRESHOLD = "WET_THRESHOLD"
    MAX_CONCURRENT = "MAX_CONCURRENT"
    OUTPUT = "OUTPUT"
    TIMESERIES = "TIMESERIES"
    PLOTS = "PLOTS"

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
            "<b>Wet threshold</b>: an observation is wet when water + wet is over it.\n"
            "<b>Downloads at once</b>: the size of the download pool.\n\n"
            "Fields added: wit_obs, wit_first, wit_last, wit_wet_pct, wit_water_pct, wit_max_wet, "
            "wit_max_wet_ha, wit_mean_water, wit_mean_wet, wit_mean_pv, wit_mean_npv, wit_mean_bs, wit_events, "
            "wit_longest_event_days, wit_last_wet, wit_load_status (loaded, failed or no result), "
            "wit_load_error and wit_plot. A polygon that cannot be loaded is failed with the reason; the run "
            "goes on.\n\n"
            "Needs a parquet reader: GDAL's Parquet driver (QGIS 3.30+ installers) or pyarrow in QGIS's Python.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("Polygons with WIT results"), [VECTOR_POLYGON]))
        self.addParameter(QgsProcessingParameterField(
            self.URL_FIELD, self.tr("Result field (default wit_url)"), "wit_url", self.INPUT,
            STRING_FIELDS, optional=True))  # QGIS 3.22 refuses a missing value otherwise
        self.addParameter(QgsProcessingParameterField(
            self.ID_FIELD, self.tr("ID field (default: feature id)"), None, self.INPUT, optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.S3_ENDPOINT, self.tr("S3 endpoint (empty = AWS)"), optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.AWS_PROFILE, self.tr("AWS profile"), optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.S3_UNSIGNED, self.tr("Unsigned S3 requests (public buckets)"), False))
        self.addParameter(QgsProcessingParameterNumber(
            self.WET_THRESHOLD, self.tr("Wet threshold (water + wet, 0-1)"), DOUBLE,
            0.01, minValue=0, maxValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_CONCURRENT, self.tr("Downloads at once"), INTEGER, 8,
            minValue=1, maxValue=64))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("WIT statistics"), VECTOR_POLYGON))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.TIMESERIES, self.tr("WIT time series"), VECTOR_ANY, optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.PLOTS, self.tr("Folder for WIT plots"), optional=True, createByDefault=False))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        source = self.polygon_source(parameters, context)
        url_field = self._field(parameters, self.URL_FIELD, context) or "wit_url"
        if source.fields().lookupField(url_field) < 0:
            raise QgsProcessingException(self.tr("URL_FIELD: layer '{}' has no field '{}'.").format(
                source.sourceName(), url_field))
        id_field = self._field(parameters, self.ID_FIELD, context)
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

        fields = output_fields(source.fields())
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields, source.wkbType(),
                                             source.sourceCrs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        series_sink, series_id = self.parameterAsSink(parameters, self.TIMESERIES, context, timeseries_fields(),
                                                      QgsWkbTypes.Type.NoGeometry)

        fetcher = Fetcher(S3Settings(endpoint, self.parameterAsString(parameters, self.AWS_PROFILE, context).strip(),
                                     self.parameterAsBool(parameters, self.S3_UNSIGNED, context)),
                          ca_bundle=ca_bundle(), proxy=proxy_rule())
        loader = ResultLoader(fetcher, reader, self.parameterAsDouble(parameters, self.WET_THRESHOLD, context),
                              self.parameterAsInt(parameters, self.MAX_CONCURRENT, context), plots_dir,
                              keep_series=series_sink is not None)
        feedback.pushInfo(self.tr("Reading parquet with {}; {} polygons.").format(reader, source.featureCount()))
        area = ellipsoid_area(source, context)
        status_field = DISPATCH_STATUS if source.fields().lookupField(DISPATCH_STATUS) >= 0 else ""
        items = (_item(feature, id_field, url_field, status_field, area) for feature in source.getFeatures(
            QgsFeatureRequest(), SKIP_GEOMETRY_CHECKS))
        counts = dict.fromkeys(LOAD_STATUSES, 0)
        total = max(source.featureCount(), 1)  # -1 where a provider cannot count
        started = time.monotonic()
        with interrupts_as_cancel(feedback), closing(fetcher):
            for (feature, job), loaded in loader.run(items, feedback.isCanceled):
                counts[loaded.status] += 1
                sink.addFeature(output_feature(feature, fields, loaded), QgsFeatureSink.Flag.FastInsert)
                if series_sink is not None and loaded.series is not None:
                    series_sink.addFeatures(timeseries_rows(job.ident, loaded), QgsFeatureSink.Flag.FastInsert)
                if loaded.status != LOADED and loaded.error:
                    feedback.pushInfo(self.tr("{}: {}").format(job.ident, loaded.error))
                feedback.setProgress(min(100.0, 100.0 * sum(counts.values()) / total))
        done = sum(counts.values())
        feedback.pushInfo(self.tr("Summary: {}; {:.1f} s.").format(
            ", ".join("{} {}".format(n, s) for s, n in counts.items()), time.monotonic() - started))
        if feedback.isCanceled():
            feedback.pushWarning(self.tr("Cancelled: the output has the first {} polygons.").format(done))
        results = {self.OUTPUT: dest_id, "LOADED": counts[LOADED], "FAILED": counts[FAILED],
                   "NO_RESULT": counts[NO_RESULT]}
        if series_sink is not None:
            results[self.TIMESERIES] = series_id
        if plots_dir:
            results[self.PLOTS] = plots_dir
        style_on_completion(context, dest_id, "results")
        return results

    def _field(self, parameters, name, context) -> str:
        chosen = self.parameterAsFields(parameters, name, context)
        return chosen[0] if chosen else ""


def output_fields(input_fields: QgsFields) -> QgsFields:
    """The input fields plus the statistics and the load status (reused if the input has them)."""
    stats = [(name, "int" if name in _INTEGER_STATS else "date" if name in _DATE_STATS else "double", 0)
             for name in STAT_FIELDS]
    return extended_fields(input_fields, stats + LOAD_FIELDS)


def output_feature(feature: QgsFeature, fields: QgsFields, loaded: Loaded) -> QgsFeature:
    values = {name: _date(loaded.stats.get(name)) if name in _DATE_STATS else loaded.stats.get(name)
              for name in STAT_FIELDS}
    values.update(wit_load_status=loaded.status, wit_load_error=loaded.error or None, wit_plot=loaded.plot or None)
    return extended_feature(feature, fields, values)


def _date(value):
    return None if value is None else QDate(value.year, value.month, value.day)


def timeseries_fields() -> QgsFields:
    fields = QgsFields()
    fields.append(field("id", "string", 254))
    fields.append(field("time", "datetime"))
    for name in FRACTIONS:
        fields.append(field(name, "double"))
    return fields


def timeseries_rows(ident: str, loaded: Loaded) -> list[QgsFeature]:
    """One row per observation; times are UTC."""
    fields = timeseries_fields()
    series = loaded.series
    columns = [getattr(series, name).tolist() for name in FRACTIONS]
    rows = []
    for i, nanoseconds in enumerate(series.time.tolist()):
        row = QgsFeature(fields)
        moment = QDateTime.fromMSecsSinceEpoch(nanoseconds // 1_000_000, Qt.TimeSpec.UTC)
        row.setAttributes([ident, moment] + [column[i] for column in columns])
        rows.append(row)
    return rows


def ellipsoid_area(source, context):
    """A function: feature → its area in hectares on the context's ellipsoid (else the CRS's, else WGS84)."""
    distance = QgsDistanceArea()
    distance.setSourceCrs(source.sourceCrs(), context.transformContext())
    ellipsoid = context.ellipsoid()
    if not ellipsoid or ellipsoid.upper() == "NONE":
        ellipsoid = source.sourceCrs().ellipsoidAcronym() or DEFAULT_ELLIPSOID
    if not distance.setEllipsoid(ellipsoid):
        distance.setEllipsoid(DEFAULT_ELLIPSOID)

    def area_ha(feature: QgsFeature) -> float | None:
        geometry = feature.geometry()
        if geometry is None or geometry.isEmpty():
            return None
        return distance.convertAreaMeasurement(distance.measureArea(geometry), QgsUnitTypes.AreaUnit.AreaHectares)

    return area_ha


def _item(feature: QgsFeature, id_field: str, url_field: str, status_field: str, area) -> tuple:
    """((feature, job), job): the feature stays with this thread, the job goes to a worker."""
    ident = _plain(feature[id_field]) if id_field else None
    status = _plain(feature[status_field]) if status_field else None
    job = LoadJob(str(feature.id()) if ident is None else str(ident), _plain(feature[url_field]), area(feature),
                  None if status is None else str(status))
    return (feature, job), job


def _plain(value):
    """A Python value, or None for QGIS's NULL."""
    return None if value is None or (isinstance(value, QVariant) and value.isNull()) else value
