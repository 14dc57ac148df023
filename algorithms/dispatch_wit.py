"""Dispatch WIT: send every polygon of a layer to the WIT WPS and write the result URIs back.

A thin Processing layer over the engine in ``wit_provider``: parameters, checks that
fail before anything is sent, feature streaming and feedback. Processing runs it in a
background task (QgsProcessingAlgRunnerTask) from the toolbox and on the main thread
under qgis_process; it touches only its own source, sink and feedback either way.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

from qgis.core import (
    QgsFeatureSink,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterAuthConfig,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsProcessingUtils,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QCoreApplication, QDateTime

from ..wit_provider import defaults
from ..wit_provider.client import ServiceError, WpsClient
from ..wit_provider.dispatcher import CANCELLED, STATUSES, Dispatcher, Outcome
from ..wit_provider.geometry import LonLatEncoder
from ..wit_provider.journal import Journal, JournalError
from ..wit_provider.network import AuthError, auth_headers, ca_bundle, proxy_rule
from .features import features, jobs, output_feature, output_fields
from .interrupt import interrupts_as_cancel
from .progress import Monitor, summary

JOURNAL_SUFFIX = ".wit-journal.sqlite"
SUMMARY_OUTPUTS = ("REUSED", "RETRIES", "POSSIBLE_DUPLICATES", "ELAPSED_SECONDS")


class DispatchWitAlgorithm(QgsProcessingAlgorithm):
    INPUT = "INPUT"
    WPS_URL = "WPS_URL"
    PROCESS = "PROCESS"
    START = "START"
    END = "END"
    MAX_CONCURRENT = "MAX_CONCURRENT"
    TIMEOUT = "TIMEOUT"
    MAX_PERIMETER = "MAX_PERIMETER"
    JOURNAL = "JOURNAL"
    AUTHCFG = "AUTHCFG"
    RETRY_FAILED = "RETRY_FAILED"
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
            "<b>Maximum perimeter</b>: metres on the ellipsoid; larger polygons are skipped (0 = no limit).\n"
            "<b>Resubmit failed jobs</b>: with a journal from an earlier run, send its failed and timed-out "
            "jobs again (succeeded ones are always reused).\n"
            "<b>Job journal</b>: an SQLite file recording every job as it goes; run again with the same "
            "journal to resume after a crash, a cancel or a kill without repeating accepted jobs.\n\n"
            "The output has every input feature in input order, with its fields plus "
            "<b>wit_url</b> (e.g. s3://bucket/wit/&lt;uuid&gt;/&lt;uuid&gt;.snappy.parquet), "
            "<b>wit_status</b> (succeeded, failed, skipped, timeout or cancelled) and "
            "<b>wit_error</b> (the server's reason, or ours).\n\n"
            "<b>Authentication</b>: a QGIS authentication configuration (Basic or header-based), sent to the "
            "WPS host only. QGIS's proxy settings are used.\n\n"
            "<b>Example</b>: a zipped shapefile of wetlands in EPSG:3577, Start 2010-01-01, End 2020-01-01, "
            "8 jobs in flight: each wetland gets wit_status 'succeeded' and a wit_url to its WIT time series "
            "(parquet), or the reason it did not.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("Input polygon layer"), [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterString(
            self.WPS_URL, self.tr("WPS URL"), defaultValue=defaults.DEA_WPS_URL))
        self.addParameter(QgsProcessingParameterString(
            self.PROCESS, self.tr("Process identifier"), defaultValue=defaults.PROCESS_ID))
        self.addParameter(QgsProcessingParameterAuthConfig(
            self.AUTHCFG, self.tr("Authentication (sent to the WPS host only)"), optional=True))
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
        self.addParameter(QgsProcessingParameterBoolean(
            self.RETRY_FAILED, self.tr("Resubmit jobs that failed or timed out in an earlier run"), False))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("WIT results"), QgsProcessing.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.JOURNAL, self.tr("Job journal (default: beside the output)"),
            self.tr("WIT Dispatcher journal (*.sqlite)"), optional=True, createByDefault=False))
        for status in STATUSES:
            self.addOutput(QgsProcessingOutputNumber(status.upper(), self.tr("Features %s") % status))
        for name in SUMMARY_OUTPUTS:
            self.addOutput(QgsProcessingOutputNumber(name, name.replace("_", " ").capitalize()))

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
        journal_path = self.parameterAsFileOutput(parameters, self.JOURNAL, context) or default_journal_path(
            self.parameterAsOutputLayer(parameters, self.OUTPUT, context))
        try:
            journal = Journal(journal_path)
        except JournalError as error:
            raise QgsProcessingException(str(error)) from None
        feedback.pushInfo(self.tr("Journal: {}").format(journal_path))

        max_concurrent = self.parameterAsInt(parameters, self.MAX_CONCURRENT, context)
        try:
            headers = auth_headers(self.parameterAsString(parameters, self.AUTHCFG, context))
        except AuthError as error:
            raise QgsProcessingException(self.tr("AUTHCFG: {}").format(error)) from None
        client = WpsClient(url, pool_size=max_concurrent, auth_headers=headers, proxy=proxy_rule(),
                           ca_bundle=ca_bundle())
        try:
            client.check_process(process)
        except ServiceError as error:
            raise QgsProcessingException(self.tr("Cannot start: {}").format(error)) from None

        fields = output_fields(source.fields())
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                             source.wkbType(), source.sourceCrs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))

        encoder = LonLatEncoder(source.sourceCrs(), context.transformContext(), context.ellipsoid())
        total = source.featureCount()
        dispatcher = Dispatcher(
            client, max_concurrent,
            self.parameterAsDouble(parameters, self.TIMEOUT, context), journal=journal,
            retry_failed=self.parameterAsBool(parameters, self.RETRY_FAILED, context))
        todo = jobs(source, encoder, url, process, _naive(start), _naive(end),
                    self.parameterAsDouble(parameters, self.MAX_PERIMETER, context))
        counts = dict.fromkeys(STATUSES, 0)
        started = time.monotonic()
        with interrupts_as_cancel(feedback) as interruption:
            outcomes = dispatcher.run(todo, feedback.isCanceled, Monitor(feedback, total))
            for index, feature in enumerate(features(source)):
                outcome = next(outcomes, None) or Outcome(
                    index, CANCELLED, error=dispatcher.stopped_because or "cancelled before it was sent")
                counts[outcome.status] += 1
                sink.addFeature(output_feature(feature, fields, outcome), QgsFeatureSink.FastInsert)
        sink.flushBuffer()
        del sink  # closes the file now, so it is complete even if the run ends in an error below
        journal.close()
        elapsed = time.monotonic() - started
        feedback.pushInfo(summary(counts, dispatcher.tally, elapsed, journal_path))
        if counts[CANCELLED]:
            feedback.pushWarning(self.tr("{} features were not finished; run again with JOURNAL={} to resume.")
                                 .format(counts[CANCELLED], journal_path))
        if dispatcher.stopped_because or interruption.signal_name:
            raise QgsProcessingException(self.tr("The run was {}. The output and journal are written.").format(
                dispatcher.stopped_because or "interrupted by " + interruption.signal_name))
        results = {status.upper(): count for status, count in counts.items()}
        results.update(REUSED=dispatcher.tally.reused, RETRIES=dispatcher.tally.retries,
                       POSSIBLE_DUPLICATES=dispatcher.tally.possible_duplicates, ELAPSED_SECONDS=round(elapsed, 1))
        results[self.OUTPUT] = dest_id
        results[self.JOURNAL] = journal_path
        from .styling import style_on_completion  # opens styled by wit_status in the desktop
        style_on_completion(context, dest_id, "dispatch")
        return results


def default_journal_path(destination: str) -> str:
    """Beside a file output (``lakes.gpkg`` -> ``lakes.wit-journal.sqlite``), else in the temporary folder."""
    path = destination.split("|")[0]
    if os.path.isabs(path) and os.path.isdir(os.path.dirname(path)):
        return str(Path(path).with_suffix("")) + JOURNAL_SUFFIX
    return os.path.join(QgsProcessingUtils.tempFolder(), "wit" + JOURNAL_SUFFIX)


def _naive(moment: QDateTime) -> datetime:
    """The date and time as the user entered them (WIT reads dates without a time zone)."""
    date, clock = moment.date(), moment.time()
    return datetime(date.year(), date.month(), date.day(), clock.hour(), clock.minute(), clock.second())
