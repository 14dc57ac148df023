"""Dispatch WIT: send every polygon of a layer to the WIT WPS and write the result URIs back.

A thin Processing layer over the engine in ``wit_provider``: parameters, checks that
fail before anything is sent, feature streaming and feedback. Processing runs it in a
background task (QgsProcessingAlgRunnerTask) from the toolbox and on the main thread
under qgis_process; it touches only its own source, sink and feedback either way.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

from qgis.core import (
    QgsFeature,
    QgsFeatureRequest,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingFeatureSource,
    QgsProcessingOutputNumber,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QCoreApplication, QDateTime, QVariant

from ..wit_provider import defaults
from ..wit_provider.client import ServiceError, WpsClient
from ..wit_provider.dispatcher import CANCELLED, STATUSES, Dispatcher, Job, Outcome, Tally
from ..wit_provider.geometry import LonLatEncoder, UnusableGeometry
from ..wit_provider.wps import build_execute, feature_collection

RESULT_FIELDS = (("wit_url", 254), ("wit_status", 16), ("wit_error", 254))
MONITOR_SECONDS = 5.0


class DispatchWitAlgorithm(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    WPS_URL = "WPS_URL"
    PROCESS = "PROCESS"
    START = "START"
    END = "END"
    MAX_CONCURRENT = "MAX_CONCURRENT"
    TIMEOUT = "TIMEOUT"
    MAX_PERIMETER = "MAX_PERIMETER"
    OUTPUT = "OUTPUT"

    def tr(self, text: str) -> str:
        return QCoreApplication.translate("DispatchWitAlgorithm", text)

    def createInstance(self) -> DispatchWitAlgorithm:
        return DispatchWitAlgorithm()

    def name(self) -> str:
        return "dispatchwit"

    def displayName(self) -> str:
        return self.tr("Dispatch WIT")

    def group(self) -> str:
        return self.tr("Wetlands Insight Tool")

    def groupId(self) -> str:
        return "wit"

    def shortHelpString(self) -> str:
        return self.tr(
            "Sends every polygon of the input layer to Digital Earth Australia's Wetlands Insight Tool "
            "(an OGC WPS 1.0.0 process), one asynchronous job per polygon, and writes each result's S3 "
            "URI back as an attribute.\n\n"
            "<b>Input layer</b>: polygons in any CRS; each is reprojected to longitude/latitude.\n"
            "<b>WPS URL</b>: the Execute endpoint (default: DEA's).\n"
            "<b>Process</b>: the WPS process identifier (default WIT).\n"
            "<b>Start / End</b>: the time range to analyse; End must be after Start.\n"
            "<b>Jobs in flight</b>: how many jobs run on the server at once (1-64).\n"
            "<b>Timeout</b>: seconds a job may take after the server accepted it.\n"
            "<b>Maximum perimeter</b>: metres on the ellipsoid; larger polygons are skipped (0 = no limit).\n\n"
            "The output has every input feature in input order, with its fields plus "
            "<b>wit_url</b> (e.g. s3://bucket/wit/&lt;uuid&gt;/&lt;uuid&gt;.snappy.parquet), "
            "<b>wit_status</b> (succeeded, failed, skipped, timeout or cancelled) and "
            "<b>wit_error</b> (the server's reason, or ours).")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("Input polygon layer"), [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterString(
            self.WPS_URL, self.tr("WPS URL"), defaultValue=defaults.DEA_WPS_URL))
        self.addParameter(QgsProcessingParameterString(
            self.PROCESS, self.tr("Process identifier"), defaultValue=defaults.PROCESS_ID))
        self.addParameter(QgsProcessingParameterDateTime(
            self.START, self.tr("Start"),
            defaultValue=QDateTime.fromString(defaults.DEFAULT_START, "yyyy-MM-ddTHH:mm:ss")))
        self.addParameter(QgsProcessingParameterDateTime(
            self.END, self.tr("End"), defaultValue=QDateTime.currentDateTime()))
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_CONCURRENT, self.tr("Jobs in flight at once"), QgsProcessingParameterNumber.Integer,
            defaults.MAX_CONCURRENT, minValue=1, maxValue=defaults.MAX_CONCURRENT_LIMIT))
        self.addParameter(QgsProcessingParameterNumber(
            self.TIMEOUT, self.tr("Timeout per job (seconds)"), QgsProcessingParameterNumber.Double,
            defaults.JOB_TIMEOUT_SECONDS, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_PERIMETER, self.tr("Maximum perimeter (metres, 0 = no limit)"),
            QgsProcessingParameterNumber.Double, 0, minValue=0))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("WIT results"), QgsProcessing.TypeVectorPolygon))
        for status in STATUSES:
            self.addOutput(QgsProcessingOutputNumber(status.upper(), self.tr("Features %s") % status))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.INPUT))
        if QgsWkbTypes.geometryType(source.wkbType()) != QgsWkbTypes.PolygonGeometry:
            raise QgsProcessingException(self.tr(
                "Input layer '{}' has {} geometries: Dispatch WIT needs a polygon layer.").format(
                source.sourceName(), QgsWkbTypes.displayString(source.wkbType()) or "no"))
        url = self.parameterAsString(parameters, self.WPS_URL, context).strip()
        if not url.lower().startswith(("http://", "https://")):
            raise QgsProcessingException(self.tr("WPS_URL '{}' is not an http:// or https:// URL.").format(url))
        process = self.parameterAsString(parameters, self.PROCESS, context).strip()
        if not process:
            raise QgsProcessingException(self.tr("PROCESS is empty: give the WPS process identifier, e.g. WIT."))
        start = self.parameterAsDateTime(parameters, self.START, context)
        end = self.parameterAsDateTime(parameters, self.END, context)
        if not start.isValid() or not end.isValid() or end <= start:
            raise QgsProcessingException(self.tr("END ({}) must be after START ({}).").format(
                end.toString("yyyy-MM-dd HH:mm"), start.toString("yyyy-MM-dd HH:mm")))
        max_concurrent = self.parameterAsInt(parameters, self.MAX_CONCURRENT, context)
        timeout = self.parameterAsDouble(parameters, self.TIMEOUT, context)
        max_perimeter = self.parameterAsDouble(parameters, self.MAX_PERIMETER, context)

        client = WpsClient(url)
        try:
            client.check_process(process)
        except ServiceError as error:
            raise QgsProcessingException(self.tr("Cannot start: {}").format(error)) from None

        fields = _output_fields(source.fields())
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                             source.wkbType(), source.sourceCrs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))

        encoder = LonLatEncoder(source.sourceCrs(), context.transformContext(), context.ellipsoid())
        jobs = _jobs(source, encoder, process, _naive(start), _naive(end), max_perimeter)
        total = source.featureCount()
        dispatcher = Dispatcher(client, max_concurrent, timeout)
        outcomes = dispatcher.run(jobs, feedback.isCanceled, _Monitor(feedback, total), max(total, 0) or None)
        counts = dict.fromkeys(STATUSES, 0)
        started = time.monotonic()
        for index, feature in enumerate(_features(source)):
            outcome = next(outcomes, None) or Outcome(index, CANCELLED, error="cancelled before it was sent")
            counts[outcome.status] += 1
            sink.addFeature(_output_feature(feature, fields, outcome), QgsFeatureSink.FastInsert)
        feedback.pushInfo(self.tr("Done in {:.0f} s: {}.").format(
            time.monotonic() - started, ", ".join("{} {}".format(n, s) for s, n in counts.items())))
        results = {status.upper(): count for status, count in counts.items()}
        results[self.OUTPUT] = dest_id
        return results


def _naive(moment: QDateTime) -> datetime:
    """The date and time as the user entered them (WIT reads dates without a time zone)."""
    date, clock = moment.date(), moment.time()
    return datetime(date.year(), date.month(), date.day(), clock.hour(), clock.minute(), clock.second())


def _features(source) -> Iterator[QgsFeature]:
    """Every feature, invalid geometries included: a validity check that aborts the run
    half-way would throw away jobs already done. The server judges what it can use."""
    return source.getFeatures(QgsFeatureRequest(), QgsProcessingFeatureSource.FlagSkipGeometryValidityChecks)


def _jobs(source, encoder: LonLatEncoder, process: str, start: datetime, end: datetime,
          max_perimeter: float) -> Iterator[Job]:
    """Read features lazily, one Job each: an Execute document, or why it is skipped."""
    for index, feature in enumerate(_features(source)):
        geometry = feature.geometry()
        try:
            lonlat = encoder.geojson(geometry)
            if max_perimeter > 0:
                perimeter = encoder.perimeter_m(geometry)
                if perimeter > max_perimeter:
                    raise UnusableGeometry("perimeter %.0f m is over MAX_PERIMETER %.0f m" % (perimeter, max_perimeter))
            execute = build_execute(process, feature_collection(lonlat), start, end)
        except (UnusableGeometry, ValueError) as reason:
            yield Job(index, skip_reason=str(reason))
            continue
        if len(execute) > defaults.MAX_REQUEST_BYTES:
            yield Job(index, skip_reason="the request would be %.1f MB, over the server's 3 MB limit: "
                                          "simplify the polygon" % (len(execute) / 1e6))
            continue
        yield Job(index, execute=execute)


def _output_fields(input_fields: QgsFields) -> QgsFields:
    """The input fields plus wit_url, wit_status and wit_error (reused if the input has them)."""
    fields = QgsFields(input_fields)
    for name, length in RESULT_FIELDS:
        if fields.lookupField(name) < 0:
            fields.append(QgsField(name, QVariant.String, len=length))
    return fields


def _output_feature(feature: QgsFeature, fields: QgsFields, outcome: Outcome) -> QgsFeature:
    out = QgsFeature(fields)
    out.setGeometry(feature.geometry())
    attributes = feature.attributes() + [None] * (fields.count() - len(feature.attributes()))
    for (name, _), value in zip(RESULT_FIELDS, (outcome.url, outcome.status, outcome.error)):
        attributes[fields.lookupField(name)] = value or None
    out.setAttributes(attributes)
    return out


class _Monitor:
    """Progress bar = finished/total; a monitor line like the original notebook's every few seconds."""

    def __init__(self, feedback, total: int):
        self.feedback = feedback
        self.total = total
        self.last_line = ""
        self.last_time = 0.0

    def __call__(self, tally: Tally) -> None:
        if self.total > 0:
            self.feedback.setProgress(100.0 * tally.finished / self.total)
        line = tally.monitor_line()
        now = time.monotonic()
        if line != self.last_line and (now - self.last_time >= MONITOR_SECONDS or tally.finished == self.total):
            self.feedback.pushInfo(line)
            self.last_line, self.last_time = line, now
