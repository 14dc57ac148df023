"""Features in, jobs out; outcomes in, output features out. Lazily, one feature at a time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from qgis.core import QgsFeature, QgsFeatureRequest, QgsField, QgsFields, QgsProcessingFeatureSource
from qgis.PyQt.QtCore import QVariant

from ..wit_provider import defaults
from ..wit_provider.dispatcher import Job, Outcome
from ..wit_provider.geometry import LonLatEncoder, UnusableGeometry
from ..wit_provider.journal import job_key
from ..wit_provider.wps import build_execute, feature_collection

RESULT_FIELDS = (("wit_url", 254), ("wit_status", 16), ("wit_error", 254))


def features(source) -> Iterator[QgsFeature]:
    """Every feature, invalid geometries included: a validity check that aborts the run
    half-way would throw away jobs already done. The server judges what it can use."""
    return source.getFeatures(QgsFeatureRequest(), QgsProcessingFeatureSource.FlagSkipGeometryValidityChecks)


def jobs(source, encoder: LonLatEncoder, wps_url: str, process: str, start: datetime, end: datetime,
         max_perimeter: float) -> Iterator[Job]:
    """One Job per feature, in order: an Execute document and its job key, or why it is skipped."""
    for index, feature in enumerate(features(source)):
        geometry = feature.geometry()
        try:
            collection = feature_collection(encoder.geojson(geometry))
            if max_perimeter > 0:
                perimeter = encoder.perimeter_m(geometry)
                if perimeter > max_perimeter:
                    raise UnusableGeometry("perimeter %.0f m is over MAX_PERIMETER %.0f m" % (perimeter, max_perimeter))
        except (UnusableGeometry, ValueError) as reason:
            yield Job(index, skip_reason=str(reason))
            continue
        execute = build_execute(process, collection, start, end)
        if len(execute) > defaults.MAX_REQUEST_BYTES:
            yield Job(index, skip_reason="the request would be %.1f MB, over the server's 3 MB limit: "
                                          "simplify the polygon" % (len(execute) / 1e6))
            continue
        yield Job(index, execute=execute, key=job_key(wps_url, process, collection, start, end))


def output_fields(input_fields: QgsFields) -> QgsFields:
    """The input fields plus wit_url, wit_status and wit_error (reused if the input has them)."""
    fields = QgsFields(input_fields)
    for name, length in RESULT_FIELDS:
        if fields.lookupField(name) < 0:
            fields.append(QgsField(name, QVariant.String, len=length))
    return fields


def output_feature(feature: QgsFeature, fields: QgsFields, outcome: Outcome) -> QgsFeature:
    out = QgsFeature(fields)
    out.setGeometry(feature.geometry())
    attributes = feature.attributes() + [None] * (fields.count() - len(feature.attributes()))
    for (name, _), value in zip(RESULT_FIELDS, (outcome.url, outcome.status, outcome.error)):
        attributes[fields.lookupField(name)] = value or None
    out.setAttributes(attributes)
    return out
