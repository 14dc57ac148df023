"""Dispatch WIT: send every polygon of a layer to the WIT WPS and write the result URIs back.

A thin Processing layer over the engine in ``wit_provider``: parameters, checks that
fail before anything is sent, feature streaming and feedback. Processing runs it in a
background task (QgsProcessingAlgRunnerTask) from the toolbox and on the main thread
under qgis_process; it touches only its own source, sink and feedback either way.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsFeatureSink,
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
)
from qgis.PyQt.QtCore import QDateTime

from ..wit_provider.common.job_states import CANCELLED, OUTCOMES
from ..wit_provider.dispatch import defaults
from ..wit_provider.dispatch.client import ServiceError, WpsClient, redacted, url_problem
from ..wit_provider.dispatch.dispatcher import Dispatcher
from ..wit_provider.dispatch.increments import by_polygon, periods, polygon_result
from ..wit_provider.dispatch.job_times import JobTimesFile, model_key
from ..wit_provider.dispatch.journal import Journal, JournalError, JournalInUse, minute
from ..wit_provider.qgis_bridge.geometry import LonLatEncoder
from ..wit_provider.qgis_bridge.network import AuthError, auth_headers, ca_bundle, proxy_rule
from .base import WitAlgorithm
from .features import OutputRows, features, job_feature, job_fields, jobs, output_fields, workload_sample
from .interrupt import interrupts_as_cancel
from .progress import Monitor, summary
from .qgis_compat import DOUBLE, INTEGER, VECTOR_ANY, VECTOR_POLYGON, advanced
from .styling import store_styles, style_on_completion

JOURNAL_SUFFIX = ".wit-journal.sqlite"
JOURNALS_FOLDER = "wit_dispatcher/journals"  # under the QGIS profile, for runs with a temporary output
JOB_TIMES_FILE = "wit_dispatcher/job_times.json"  # under the QGIS profile: how long jobs take, per server
SUMMARY_OUTPUTS = ("REUSED", "RETRIES", "POSSIBLE_DUPLICATES", "ELAPSED_SECONDS")


class DispatchWitAlgorithm(WitAlgorithm):
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
    INCREMENT_YEARS = "INCREMENT_YEARS"
    JOBS = "JOBS"
    DOCS_PAGE = "dispatching.md"

    def name(self) -> str:
        return "dispatchwit"

    def displayName(self) -> str:
        return self.tr("Dispatch WIT")

    def shortHelpString(self) -> str:
        return self.tr(
            "Sends every polygon of the input layer to Digital Earth Australia's Wetlands Insight Tool "
            "(an OGC WPS 1.0.0 process), one asynchronous job per polygon, and writes each result's S3 "
            "URI back as an attribute.\n\n"
            "<b>Input layer</b>: polygons in any CRS; each is reprojected to longitude/latitude.\n"
            "<b>WPS URL</b>: the Execute endpoint (default: DEA's).\n"
            "<b>Process</b>: the WPS process identifier (default WIT).\n"
            "<b>Start / End</b>: the time range to analyse; End must be after Start. Left empty, End is now "
            "for a new journal, and the End of the journal's last run for a journal that has one, so a rerun "
            "resumes that run on any later day; give End to extend the record.\n"
            "<b>Time increments (years)</b>: 0 sends one job per polygon. With k &gt; 0 each polygon's interval "
            "is cut at 1 January of every year divisible by k, one job each (k = 5: [1987, 1990), [1990, 1995), "
            "...): shorter jobs, and a later rerun with a later End computes only the newest increment.\n"
            "<b>Jobs in flight</b>: how many jobs run on the server at once (1-64).\n"
            "<b>Timeout</b>: seconds a job's submission is retried through transient faults, and then seconds it "
            "may take after the server accepted it.\n"
            "<b>Maximum perimeter</b>: metres on the ellipsoid; larger polygons are skipped (0 = no limit).\n"
            "<b>Resubmit failed jobs</b>: with a journal from an earlier run, send its failed and timed-out "
            "jobs again (succeeded ones are always reused).\n"
            "<b>Job journal</b>: an SQLite file recording every job as it goes; run again with the same "
            "journal to resume after a crash, a cancel or a kill without repeating accepted jobs. By default it "
            "lies beside the output file, or, for a temporary output, in the QGIS profile "
            "(wit_dispatcher/journals, named after the input layer), where a later session finds it again.\n\n"
            "The output has every input feature in input order, with its fields plus "
            "<b>wit_url</b> (e.g. s3://bucket/wit/&lt;uuid&gt;/&lt;uuid&gt;.snappy.parquet; with several "
            "increments a JSON array of them in time order: from_json(\"wit_url\")), "
            "<b>wit_status</b> (succeeded, failed, skipped, timeout or cancelled; succeeded only if every "
            "increment did) and <b>wit_error</b> (the server's reason, or ours, per increment by its dates).\n"
            "<b>Jobs</b> (optional): a table with one row per job: feature (0-based input position), start, end, "
            "status, url, error, reused (taken from the journal).\n\n"
            "<b>Authentication</b>: a QGIS authentication configuration (Basic or header-based), sent to the "
            "WPS host only. QGIS's proxy settings are used.\n\n"
            "<b>Example</b>: a zipped shapefile of wetlands in EPSG:3577, Start 2010-01-01, End 2020-01-01, "
            "8 jobs in flight: each wetland gets wit_status 'succeeded' and a wit_url to its WIT time series "
            "(parquet), or the reason it did not.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("Input polygon layer"), [VECTOR_POLYGON]))
        self.addParameter(advanced(QgsProcessingParameterString(
            self.WPS_URL, self.tr("WPS URL"), defaultValue=defaults.DEA_WPS_URL)))
        self.addParameter(advanced(QgsProcessingParameterString(
            self.PROCESS, self.tr("Process identifier"), defaultValue=defaults.PROCESS_ID)))
        self.addParameter(advanced(QgsProcessingParameterAuthConfig(
            self.AUTHCFG, self.tr("Authentication (sent to the WPS host only)"), optional=True)))
        self.addParameter(QgsProcessingParameterDateTime(
            self.START, self.tr("Start"),
            defaultValue=QDateTime.fromString(defaults.DEFAULT_START, "yyyy-MM-ddTHH:mm:ss")))
        self.addParameter(QgsProcessingParameterDateTime(
            self.END, self.tr("End (empty: now, or the journal's run)"), optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.INCREMENT_YEARS, self.tr("Time increments (years; 0 = one job per polygon)"),
            INTEGER, 0, minValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_CONCURRENT, self.tr("Jobs in flight at once"), INTEGER,
            defaults.MAX_CONCURRENT, minValue=1, maxValue=defaults.MAX_CONCURRENT_LIMIT))
        self.addParameter(advanced(QgsProcessingParameterNumber(
            self.TIMEOUT, self.tr("Timeout per job (seconds)"), DOUBLE,
            defaults.JOB_TIMEOUT_SECONDS, minValue=1)))
        self.addParameter(advanced(QgsProcessingParameterNumber(
            self.MAX_PERIMETER, self.tr("Maximum perimeter (metres, 0 = no limit)"),
            DOUBLE, 0, minValue=0)))
        self.addParameter(advanced(QgsProcessingParameterBoolean(
            self.RETRY_FAILED, self.tr("Resubmit jobs that failed or timed out in an earlier run"), False)))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("WIT results"), VECTOR_POLYGON))
        self.addParameter(advanced(QgsProcessingParameterFeatureSink(
            self.JOBS, self.tr("Jobs"), VECTOR_ANY, optional=True, createByDefault=False)))
        self.addParameter(advanced(QgsProcessingParameterFileDestination(
            self.JOURNAL, self.tr("Job journal (default: beside the output)"),
            self.tr("WIT Dispatcher journal (*.sqlite)"), optional=True, createByDefault=False)))
        for status in OUTCOMES:
            self.addOutput(QgsProcessingOutputNumber(status.upper(), self.tr("Features %s") % status))
        for name in SUMMARY_OUTPUTS:
            self.addOutput(QgsProcessingOutputNumber(name, name.replace("_", " ").capitalize()))

    def processAlgorithm(self, parameters, context, feedback) -> dict:
        source = self.polygon_source(parameters, context)
        url = self.parameterAsString(parameters, self.WPS_URL, context).strip()
        problem = url_problem(url)
        if problem:
            raise QgsProcessingException(self.tr("WPS_URL '{}' {}.").format(redacted(url), problem))
        process = self.parameterAsString(parameters, self.PROCESS, context).strip()
        if not process:
            raise QgsProcessingException(self.tr("PROCESS is empty: give the WPS process identifier, e.g. WIT."))
        start_time = self.parameterAsDateTime(parameters, self.START, context)
        if not start_time.isValid():
            raise QgsProcessingException(self.tr("START is not a valid date and time."))
        start = minute(_naive(start_time))
        journal_path = self.parameterAsFileOutput(parameters, self.JOURNAL, context)
        try:
            journal = Journal(journal_path) if journal_path else self._default_journal(parameters, context, url,
                                                                                       process)
        except JournalError as error:
            raise QgsProcessingException(str(error)) from None
        try:  # the journal (and its run lock) is released whatever happens from here on
            with interrupts_as_cancel(feedback) as interruption:
                return self._dispatch(parameters, context, feedback, source, url, process, start, journal,
                                      interruption)
        except JournalError as error:
            raise QgsProcessingException(str(error)) from None
        finally:
            journal.close()

    def _dispatch(self, parameters, context, feedback, source, url: str, process: str, start: datetime,
                  journal: Journal, interruption) -> dict:
        end = self._end(parameters, context, journal, feedback)
        if end <= start:
            raise QgsProcessingException(self.tr("END ({}) must be after START ({}).").format(
                end.strftime("%Y-%m-%d %H:%M"), start.strftime("%Y-%m-%d %H:%M")))
        journal_path = str(journal.path)
        feedback.pushInfo(self.tr("Journal: {}").format(journal_path))
        max_concurrent = self.parameterAsInt(parameters, self.MAX_CONCURRENT, context)
        try:
            headers = auth_headers(self.parameterAsString(parameters, self.AUTHCFG, context))
            client = WpsClient(url, pool_size=max_concurrent, auth_headers=headers, proxy=proxy_rule(),
                               ca_bundle=ca_bundle())
            client.check_process(process, feedback.isCanceled)
        except AuthError as error:
            raise QgsProcessingException(self.tr("AUTHCFG: {}").format(error)) from None
        except ServiceError as error:
            raise QgsProcessingException(self.tr("Cannot start: {}").format(error)) from None
        journal.remember_end(end)  # only a run that started is one to resume

        fields = output_fields(source.fields())
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                             source.wkbType(), source.sourceCrs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        rows = OutputRows(fields)
        jobs_fields = job_fields()
        jobs_sink, jobs_id = self.parameterAsSink(parameters, self.JOBS, context, jobs_fields)

        intervals = periods(start, end, self.parameterAsInt(parameters, self.INCREMENT_YEARS, context))
        if len(intervals) > 1:
            feedback.pushInfo(self.tr("{} time increments per polygon: {}").format(
                len(intervals), ", ".join("[{}, {})".format(a.strftime("%Y-%m-%d"), b.strftime("%Y-%m-%d"))
                                          for a, b in intervals)))
        encoder = LonLatEncoder(source.sourceCrs(), context.transformContext(), context.ellipsoid())
        monitor = Monitor(feedback, source.featureCount(), len(intervals))
        job_times_file = JobTimesFile(Path(QgsApplication.qgisSettingsDirPath()) / JOB_TIMES_FILE)
        model = model_key(url, process)
        job_times = job_times_file.load(model)
        feedback.pushInfo(self.tr("Job times: learned from {} earlier jobs on {}").format(job_times.samples, model)
                          if job_times.samples else
                          self.tr("Job times: none known yet for {}; polling learns as jobs finish").format(model))
        dispatcher = Dispatcher(
            client, max_concurrent,
            self.parameterAsDouble(parameters, self.TIMEOUT, context), journal=journal,
            retry_failed=self.parameterAsBool(parameters, self.RETRY_FAILED, context), job_times=job_times,
            total=monitor.total, sample=workload_sample(source, encoder, intervals))
        todo = jobs(source, encoder, url, process, intervals,
                    self.parameterAsDouble(parameters, self.MAX_PERIMETER, context))
        counts = dict.fromkeys(OUTCOMES, 0)
        started = time.monotonic()
        # Closing the outcomes stops the workers and lets replies on the wire be journaled:
        # only then may the journal close (the caller closes it).
        with closing(dispatcher.run(todo, feedback.isCanceled, monitor)) as outcomes:
            polygons = by_polygon(outcomes, intervals,
                                  lambda: dispatcher.stopped_because or "cancelled before it was sent")
            for feature, parts in zip(features(source), polygons):
                result = polygon_result(parts)
                counts[result.status] += 1
                monitor.polygon_done()
                sink.addFeature(rows.feature(feature, result), QgsFeatureSink.Flag.FastInsert)
                if jobs_sink is not None:
                    jobs_sink.addFeatures([job_feature(jobs_fields, o) for o in parts], QgsFeatureSink.Flag.FastInsert)
        sink.flushBuffer()
        del sink  # closes the file now, so it is complete even if the run ends in an error below
        if jobs_sink is not None:
            jobs_sink.flushBuffer()
        del jobs_sink
        problem = store_styles(dest_id, "dispatch")  # a GeoPackage opens categorized by wit_status anywhere
        if problem:
            feedback.pushWarning(self.tr("{}: the style was not stored in the file: {}").format(dest_id, problem))
        elapsed = time.monotonic() - started
        try:
            job_times_file.save(model, job_times)
        except OSError as error:
            feedback.pushWarning(self.tr("Job times not saved to {}: {}").format(job_times_file.path, error))
        feedback.pushInfo(summary(counts, dispatcher.tally, elapsed, journal_path, len(intervals) > 1))
        if counts[CANCELLED]:
            feedback.pushWarning(self.tr("{} features were not finished; run again with JOURNAL={} to resume.")
                                 .format(counts[CANCELLED], journal_path))
        if dispatcher.stopped_because or interruption.signal_name:
            raise QgsProcessingException(self.tr(
                "The run stopped: {}. Every feature is written to the output; run again with the same journal "
                "to resume.").format(dispatcher.stopped_because or "interrupted by " + interruption.signal_name))
        results = {status.upper(): count for status, count in counts.items()}
        results.update(REUSED=dispatcher.tally.reused, RETRIES=dispatcher.tally.retries,
                       POSSIBLE_DUPLICATES=dispatcher.tally.possible_duplicates, ELAPSED_SECONDS=round(elapsed, 1))
        results[self.OUTPUT] = dest_id
        results[self.JOURNAL] = journal_path
        if jobs_id:
            results[self.JOBS] = jobs_id
        style_on_completion(context, dest_id, "dispatch")  # opens styled by wit_status in the desktop
        return results

    def _default_journal(self, parameters, context, url: str, process: str) -> Journal:
        """Beside a file output; for a temporary output, in the profile, named after the input layer.

        QGIS's temporary folder is new every session, so a journal there could never resume a
        run; the profile's is found again. Two runs at once never share one: the second takes
        the next free name.
        """
        destination = self.parameterAsOutputLayer(parameters, self.OUTPUT, context).split("|")[0]
        if _is_lasting_file(destination):
            return Journal(str(Path(destination).with_suffix("")) + JOURNAL_SUFFIX)
        layer = self.parameterAsVectorLayer(parameters, self.INPUT, context)
        name = layer.name() if layer else "input"
        identity = "\n".join([layer.source() if layer else str(parameters.get(self.INPUT)), url, process])
        stem = "%s-%s" % (re.sub(r"[^\w.-]+", "_", name)[:60], hashlib.sha256(identity.encode()).hexdigest()[:12])
        folder = Path(QgsApplication.qgisSettingsDirPath()) / JOURNALS_FOLDER
        for attempt in range(1, 10):
            try:
                return Journal(folder / ("%s%s%s" % (stem, "-%d" % attempt if attempt > 1 else "", JOURNAL_SUFFIX)))
            except JournalInUse:
                continue
        raise JournalInUse("every journal for this input is in use by another run: give a JOURNAL")

    def _end(self, parameters, context, journal: Journal, feedback) -> datetime:
        """END as given; else the END of the journal's last run (so a rerun resumes it), else now."""
        given = self.parameterAsDateTime(parameters, self.END, context)
        if given.isValid():
            return minute(_naive(given))
        remembered = journal.remembered_end()
        if remembered is not None:
            feedback.pushInfo(self.tr("END not given: resuming this journal's run, which ends {}; give END to "
                                      "extend it.").format(remembered.strftime("%Y-%m-%d %H:%M")))
            return remembered
        now = minute(datetime.now())
        feedback.pushInfo(self.tr("END not given: up to now, {}; a rerun with this journal and no END resumes "
                                  "up to the same END.").format(now.strftime("%Y-%m-%d %H:%M")))
        return now


def _is_lasting_file(destination: str) -> bool:
    """A file output that outlives this QGIS session (not in Processing's temporary folder)."""
    if not os.path.isabs(destination) or not os.path.isdir(os.path.dirname(destination)):
        return False
    temporary = os.path.realpath(QgsProcessingUtils.tempFolder())
    return not os.path.realpath(destination).startswith(temporary + os.sep)


def _naive(moment: QDateTime) -> datetime:
    """The date and time as the user entered them (WIT reads dates without a time zone)."""
    date, clock = moment.date(), moment.time()
    return datetime(date.year(), date.month(), date.day(), clock.hour(), clock.minute(), clock.second())
