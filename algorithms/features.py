"""Features in, jobs out; outcomes in, output features out. Lazily, one feature at a time."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime

from qgis.core import QgsFeature, QgsFeatureRequest, QgsFields
from qgis.PyQt.QtCore import QDateTime

from ..wit_provider.dispatch import defaults
from ..wit_provider.dispatch.increments import Increment, PolygonResult
from ..wit_provider.dispatch.job_times import Workload
from ..wit_provider.dispatch.jobs import Job, Outcome
from ..wit_provider.dispatch.journal import job_key
from ..wit_provider.dispatch.wps import build_execute, feature_collection
from ..wit_provider.qgis_bridge.geometry import LonLatEncoder, UnusableGeometry
from .base import ExtendedFeatures, extended_fields, table_fields
from .qgis_compat import SKIP_GEOMETRY_CHECKS

# wit_url holds a JSON array of URIs when a polygon has several increments: no length limit.
RESULT_FIELDS = [("wit_url", "string", 0), ("wit_status", "string", 16), ("wit_error", "string", 0)]
YEAR_SECONDS = 365.25 * 86400
SAMPLE_FEATURES = 500  # drawn from the whole layer to cost the jobs not read yet
JOB_FIELDS = (("feature", "int"), ("start", "datetime"), ("end", "datetime"), ("status", "string"), ("url", "string"),
              ("error", "string"), ("reused", "bool"))


def features(source) -> Iterator[QgsFeature]:
    """Every feature, invalid geometries included: a validity check that aborts the run
    half-way would throw away jobs already done. The server judges what it can use."""
    return source.getFeatures(QgsFeatureRequest(), SKIP_GEOMETRY_CHECKS)


def jobs(source, encoder: LonLatEncoder, wps_url: str, process: str, periods: list[tuple[datetime, datetime]],
         max_perimeter: float) -> Iterator[Job]:
    """One Job per feature and time increment, in order: an Execute document and its job key;
    or one Job per feature that cannot be sent, saying why it is skipped. Each Job carries its
    Workload (area and years), from which its time is predicted."""
    index = 0
    whole = (periods[0][0], periods[-1][1])
    for position, feature in enumerate(features(source)):
        geometry = feature.geometry()
        try:
            collection = feature_collection(encoder.geojson(geometry))
            if max_perimeter > 0:
                perimeter = encoder.perimeter_m(geometry)
                if perimeter > max_perimeter:
                    raise UnusableGeometry("perimeter %.0f m is over MAX_PERIMETER %.0f m" % (perimeter, max_perimeter))
            executes = [build_execute(process, collection, start, end) for start, end in periods]
            area = encoder.area_km2(geometry)
            if len(executes[0]) > defaults.MAX_REQUEST_BYTES:
                raise UnusableGeometry("the request would be %.1f MB, over the server's 3 MB limit: simplify the "
                                       "polygon" % (len(executes[0]) / 1e6))
        except (UnusableGeometry, ValueError) as reason:
            yield Job(index, skip_reason=str(reason), label=Increment(position, 0, 1, *whole))
            index += 1
            continue
        for part, ((start, end), execute) in enumerate(zip(periods, executes)):
            yield Job(index, execute=execute, key=job_key(wps_url, process, collection, start, end),
                      label=Increment(position, part, len(periods), start, end),
                      workload=Workload(area, (end - start).total_seconds() / YEAR_SECONDS))
            index += 1


def workload_sample(source, encoder: LonLatEncoder, periods: list[tuple[datetime, datetime]],
                    size: int = SAMPLE_FEATURES) -> list[Workload]:
    """The workloads of up to ``size`` features drawn at random from the whole layer, one per
    increment, in feature id order: what the jobs not read yet are costed at (a layer is often
    sorted by size). A layer of up to ``size`` features gives them all, in the order they are read."""
    ids = list(source.allFeatureIds())
    chosen = sorted(random.Random(0).sample(ids, min(size, len(ids))))
    request = QgsFeatureRequest().setFilterFids(chosen).setNoAttributes()
    sample = []
    for feature in source.getFeatures(request, SKIP_GEOMETRY_CHECKS):  # as jobs() reads them: invalid ones too
        geometry = feature.geometry()
        if geometry is None or geometry.isEmpty():
            continue
        area = encoder.area_km2(geometry)
        sample += [Workload(area, (end - start).total_seconds() / YEAR_SECONDS) for start, end in periods]
    return sample


def output_fields(input_fields: QgsFields) -> QgsFields:
    """The input fields plus wit_url, wit_status and wit_error (reused if the input has them)."""
    return extended_fields(input_fields, RESULT_FIELDS)


class OutputRows:
    """Output features: the input polygon with its result's URI, status and error."""

    def __init__(self, fields: QgsFields):
        self._features = ExtendedFeatures(fields, [name for name, _, _ in RESULT_FIELDS])

    def feature(self, feature: QgsFeature, result: PolygonResult) -> QgsFeature:
        return self._features.feature(feature, (result.url or None, result.status, result.error or None))


def job_fields() -> QgsFields:
    return table_fields(JOB_FIELDS)


def job_feature(fields: QgsFields, outcome: Outcome) -> QgsFeature:
    """One row of the JOBS table: which polygon and interval, and how its job ended."""
    row = QgsFeature(fields)
    label = outcome.label
    row.setAttributes([label.feature, QDateTime(label.start), QDateTime(label.end), outcome.status,
                       outcome.url or None, outcome.error or None, outcome.reused])
    return row
