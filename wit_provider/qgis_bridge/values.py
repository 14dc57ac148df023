"""QGIS attribute values as plain Python, for the engines: one reading for the explorer and the report."""

from __future__ import annotations

import numpy as np
from qgis.PyQt.QtCore import QDateTime, Qt


def plain(value):
    """QDate → date, NULL (a null QVariant on QGIS 3, None on QGIS 4) → None, anything else as it is."""
    if value is None or (hasattr(value, "isNull") and value.isNull()):
        return None
    if hasattr(value, "toPyDate"):
        return value.toPyDate()
    return value


def nanoseconds(moment) -> int:
    """A TIMESERIES time → nanoseconds since the epoch. Load WIT results writes UTC: a QDateTime in
    UTC (or another zone) by its zone; one in local time by its clock, as UTC (QGIS 3.22 reads a
    GeoPackage's "…Z" as local time, and a time stored without a zone too); ISO text (a CSV table)
    as UTC."""
    if isinstance(moment, str):
        return int(np.datetime64(moment.rstrip("Z").replace("/", "-"), "ns").astype(np.int64))
    if moment.timeSpec() == Qt.TimeSpec.LocalTime:
        moment = QDateTime(moment.date(), moment.time(), Qt.TimeSpec.UTC)
    return int(moment.toMSecsSinceEpoch()) * 1_000_000


def number(value) -> float | None:
    """A numeric field as a float; text from a CSV table too; NULL or empty as None."""
    value = plain(value)
    return None if value is None or value == "" else float(value)
