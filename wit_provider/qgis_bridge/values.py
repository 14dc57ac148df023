"""QGIS attribute values as plain Python, for the engines: one reading for the explorer and the report."""

from __future__ import annotations

import numpy as np


def plain(value):
    """QDate → date, NULL (a null QVariant on QGIS 3, None on QGIS 4) → None, anything else as it is."""
    if value is None or (hasattr(value, "isNull") and value.isNull()):
        return None
    if hasattr(value, "toPyDate"):
        return value.toPyDate()
    return value


def nanoseconds(moment) -> int:
    """A TIMESERIES time → nanoseconds since the epoch: a QDateTime by its own time zone (Load WIT results
    writes UTC), its ISO text (a CSV table) as UTC."""
    if isinstance(moment, str):
        return int(np.datetime64(moment.rstrip("Z").replace("/", "-"), "ns").astype(np.int64))
    return int(moment.toMSecsSinceEpoch()) * 1_000_000


def number(value) -> float | None:
    """A numeric field as a float; text from a CSV table too; NULL or empty as None."""
    value = plain(value)
    return None if value is None or value == "" else float(value)
