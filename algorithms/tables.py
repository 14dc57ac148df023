"""Load WIT results' tables (TIMESERIES, ANNUAL, EVENTS): rows of plain values, each table
written the fastest way its destination allows.

A GeoPackage file no other output of the run writes gets its rows straight through SQLite
(``GeoPackageRows``): QGIS makes the table, then its sink is closed and the rows appended, a
fifth of the cost of a QgsFeature each. Every other destination (memory layers, shapefiles, CSV,
databases, a layer appended to, a file shared with another output) and ANNUAL with outlines get
features through the Processing sink, as any algorithm writes them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date

import numpy as np
from qgis.core import QgsFeature, QgsFeatureSink, QgsFields, QgsGeometry, QgsProviderRegistry
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QDate, QDateTime, Qt

from ..wit_provider.results.gpkg_rows import GeoPackageRows, day_text, moment_texts


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
    """Rows appended to the GeoPackage table QGIS made for the output, through SQLite."""

    day = staticmethod(day_text)
    moments = staticmethod(moment_texts)

    def __init__(self, rows: GeoPackageRows):
        self._rows = rows

    def add(self, rows: list[Sequence], geometry: QgsGeometry | None = None) -> None:
        self._rows.add(rows)

    def close(self) -> None:
        self._rows.close()


TableOutput = FeatureTable | GeoPackageTable


def geopackage_table(uri: str) -> tuple[str, str | None] | None:
    """(path, table or None) of an OGR source in a GeoPackage file, else None."""
    source = QgsProviderRegistry.instance().decodeUri("ogr", uri)
    path, table = str(source.get("path") or ""), source.get("layerName")
    if not path.lower().endswith(".gpkg"):
        return None
    return path, table if isinstance(table, str) and table else None  # NULL QVariant: none named


def table_output(sink: QgsFeatureSink, dest_id: str, fields: QgsFields, shared_files: set[str],
                 with_geometry: bool = False) -> TableOutput:
    """The output for a table's sink and destination. Takes the sink (the caller no longer uses it):
    a GeoPackage table of its own is made by closing it. ``shared_files``: the real paths of
    GeoPackages more than one output writes. Raises UnsuitableTable (before any row is written)
    for a table QGIS did not make as asked."""
    found = None if with_geometry else geopackage_table(dest_id)
    if found is None or os.path.realpath(found[0]) in shared_files:
        return FeatureTable(sink, fields)
    sip.delete(sink)  # closed: OGR creates the (empty) table, which SQLite then appends to
    return GeoPackageTable(GeoPackageRows(found[0], found[1], fields.names()))


@contextmanager
def closed_at_end(*tables: TableOutput | None) -> Iterator[None]:
    """The tables closed however the block ends: what was written stays in the files."""
    try:
        yield
    finally:
        for table in tables:
            if table is not None:
                table.close()

