"""Load WIT results' tables (TIMESERIES, ANNUAL, EVENTS): rows of plain values, each table
written the fastest way its destination allows.

A GeoPackage file no other output or input of the run uses gets its rows straight through
SQLite (``GeoPackageRows``, which says what that saves): QGIS makes the table, then its sink is
closed and the rows appended. Every other destination (temporary layers, shapefiles, CSV,
databases, a layer appended to, a file shared with another layer of the run) and ANNUAL with
outlines get features through the Processing sink, as any algorithm writes them.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Protocol

import numpy as np
from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsFields,
    QgsGeometry,
    QgsProcessingException,
    QgsProviderRegistry,
)
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QDate, QDateTime, Qt

from ..wit_provider.results.gpkg_rows import GeoPackageRows, day_text, moment_texts


class TableOutput(Protocol):
    """Where one table's rows go: its own forms of a date and of UTC times, then rows of them."""

    def day(self, day: date): ...

    def moments(self, nanoseconds: np.ndarray) -> list: ...

    def add(self, rows: list[Sequence], geometry: QgsGeometry | None = None) -> None: ...

    def close(self) -> None: ...


class FeatureTable:
    """Rows as features into a Processing sink, dates as QDate and times as UTC QDateTime."""

    def __init__(self, sink: QgsFeatureSink, fields: QgsFields):
        self._sink = sink
        self._fields = fields
        self._days: dict = {}  # a national ANNUAL has millions of rows but a few dozen distinct dates

    def day(self, day: date) -> QDate:
        found = self._days.get(day)
        if found is None:
            found = self._days[day] = QDate(day.year, day.month, day.day)
        return found

    @staticmethod
    def moments(nanoseconds: np.ndarray) -> list:
        return [QDateTime.fromMSecsSinceEpoch(value // 1_000_000, Qt.TimeSpec.UTC) for value in nanoseconds.tolist()]

    def add(self, rows: list[Sequence], geometry: QgsGeometry | None = None) -> None:
        features = []
        for row in rows:
            feature = QgsFeature(self._fields)
            if geometry is not None:
                feature.setGeometry(geometry)
            feature.setAttributes(list(row))
            features.append(feature)
        self._sink.addFeatures(features, QgsFeatureSink.Flag.FastInsert)

    def close(self) -> None:
        if self._sink is not None:
            sip.delete(self._sink)  # the file written and closed, whoever else holds the wrapper
            self._sink = None


class GeoPackageTable:
    """Rows appended to the GeoPackage table QGIS made for the output, through SQLite; a failure
    to write (a full disk, another program holding the file) names the output."""

    day = staticmethod(day_text)
    moments = staticmethod(moment_texts)

    def __init__(self, rows: GeoPackageRows, label: str):
        self._rows = rows
        self._label = label

    def add(self, rows: list[Sequence], geometry: QgsGeometry | None = None) -> None:
        with self._named():
            self._rows.add(rows)  # never a geometry: a table with outlines is a FeatureTable

    def close(self) -> None:
        with self._named():
            self._rows.close()

    @contextmanager
    def _named(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            raise QgsProcessingException("%s: cannot write table %s: %s" % (
                self._label, self._rows.table, error)) from None


def geopackage_table(uri: str) -> tuple[str, str | None] | None:
    """(path, table or None) of an OGR source in a GeoPackage file, else None."""
    source = QgsProviderRegistry.instance().decodeUri("ogr", uri)
    path, table = str(source.get("path") or ""), source.get("layerName")
    if not path.lower().endswith(".gpkg"):
        return None
    return path, table if isinstance(table, str) and table else None  # NULL QVariant: none named


def file_key(path: str) -> str:
    """One spelling per file, for telling whether two layers share one."""
    return os.path.normcase(os.path.realpath(path))


def table_output(sink: QgsFeatureSink, dest_id: str, fields: QgsFields, shared_files: set[str],
                 label: str, as_features: bool = False) -> TableOutput:
    """The output for a table's sink and destination. Takes the sink (the caller no longer uses it):
    a GeoPackage table of its own is made by closing it. ``shared_files``: the ``file_key`` of
    each GeoPackage another layer of the run uses; ``label`` names the output in errors;
    ``as_features``: rows with a geometry, or appended to a layer (field mapping). Raises
    UnsuitableTable or sqlite3.Error (before any row is written) for a table QGIS did not make
    as asked or a file SQLite cannot write."""
    found = None if as_features else geopackage_table(dest_id)
    if found is None or file_key(found[0]) in shared_files:
        return FeatureTable(sink, fields)
    sip.delete(sink)  # closed: OGR creates the (empty) table, which SQLite then appends to
    return GeoPackageTable(GeoPackageRows(found[0], found[1], fields.names()), label)


@contextmanager
def closed_at_end(tables: Sequence[TableOutput | None]) -> Iterator[Sequence[TableOutput | None]]:
    """``tables``, each closed however the block ends, one failing to close or not: what was
    written stays in the files. A failure to close is raised once all are closed, unless the
    block's own error is on its way."""
    try:
        yield tables
    except BaseException:
        _close(tables)
        raise
    failure = _close(tables)
    if failure is not None:
        raise failure


def _close(tables: Sequence[TableOutput | None]) -> Exception | None:
    """Closes every table; the first failure, if any."""
    failure = None
    for table in tables:
        if table is not None:
            try:
                table.close()
            except Exception as error:
                failure = failure or error
    return failure
