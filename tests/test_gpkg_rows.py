"""GeoPackageRows: rows appended through SQLite to a table OGR made, read back by OGR as written,
OGR's feature count right after a cut-off and after closing; a table it must not write is
refused and its file left as it was. Plain pytest: GDAL's OGR makes and reads the files."""

import hashlib
import sqlite3
from datetime import date

import numpy as np
import pytest
from osgeo import ogr

from wit_provider.results import gpkg_rows
from wit_provider.results.gpkg_rows import GeoPackageRows, UnsuitableTable, day_text, moment_texts

COLUMNS = ["id", "year", "start", "time", "share", "count"]
KINDS = [ogr.OFTString, ogr.OFTInteger, ogr.OFTDate, ogr.OFTDateTime, ogr.OFTReal, ogr.OFTInteger64]


def ogr_table(path, name="annual", geometry=ogr.wkbNone, columns=COLUMNS, rows=()):
    """A GeoPackage table as OGR (and so QGIS's sink) makes one, with ``rows`` written by OGR."""
    source = ogr.Open(str(path), 1) if path.exists() else ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer(name, None, geometry)
    for column, kind in zip(columns, KINDS):
        layer.CreateField(ogr.FieldDefn(column, kind))
    for row in rows:
        feature = ogr.Feature(layer.GetLayerDefn())
        for column, value in zip(columns, row):
            feature.SetField(column, value)
        layer.CreateFeature(feature)
    source = None
    return path


def read_back(path, name="annual"):
    source = ogr.Open(str(path))
    layer = source.GetLayerByName(name)
    rows = [[feature.GetField(column) for column in COLUMNS] for feature in layer]
    return rows, layer.GetFeatureCount()


def stored_count(path, name="annual"):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = ?", (name,)).fetchone()[0]


def test_rows_read_back_by_ogr_as_they_were_written(tmp_path):
    path = ogr_table(tmp_path / "annual.gpkg")
    times = np.array([1_294_876_800_123_456_789, 0], dtype=np.int64)  # 2011-01-13T00:00:00.123456789Z, the epoch
    written = [["w1", 2011, day_text(date(2011, 1, 1)), moment_texts(times)[0], 0.25, 3],
               ["w'2\"", None, None, moment_texts(times)[1], None, 2**40]]
    table = GeoPackageRows(str(path), None, COLUMNS)  # None: the file's only table
    table.add(written)
    table.close()
    rows, count = read_back(path)
    assert rows == [["w1", 2011, "2011/01/01", "2011/01/13 00:00:00.123+00", 0.25, 3],
                    ["w'2\"", None, None, "1970/01/01 00:00:00+00", None, 2**40]]
    assert count == stored_count(path) == 2


def test_ogr_keeps_counting_rows_others_add_after_closing(tmp_path):
    """OGR's trigger is back after close: a row added later is counted."""
    path = ogr_table(tmp_path / "annual.gpkg")
    table = GeoPackageRows(str(path), "annual", COLUMNS)
    table.add([["w1", 2011, None, None, 0.5, 1]] * 3)
    table.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO annual (id) VALUES ('later')")
    assert stored_count(path) == 4 and read_back(path)[1] == 4


def test_a_run_cut_off_leaves_the_rows_committed_and_a_right_count(tmp_path, monkeypatch):
    """Every COMMIT_ROWS rows are in the file; a run that never closes leaves OGR counting them itself."""
    monkeypatch.setattr(gpkg_rows, "COMMIT_ROWS", 5)
    path = ogr_table(tmp_path / "annual.gpkg")
    table = GeoPackageRows(str(path), "annual", COLUMNS)
    for start in range(0, 12, 4):
        table.add([["w%d" % i, 2000 + i, None, None, 0.1 * i, i] for i in range(start, start + 4)])
    table._db.close()  # the process gone: the last 4 rows uncommitted, close() never called
    rows, count = read_back(path)
    assert [row[0] for row in rows] == ["w%d" % i for i in range(8)]
    assert count == 8 and stored_count(path) is None


def test_many_rows_in_several_transactions_and_statements(tmp_path, monkeypatch):
    """7 adds of 700 rows: each a statement of ROWS_PER_STATEMENT (500) and one of 200, committed
    every COMMIT_ROWS (1,000) and at the close."""
    monkeypatch.setattr(gpkg_rows, "COMMIT_ROWS", 1000)
    path = ogr_table(tmp_path / "annual.gpkg")
    table = GeoPackageRows(str(path), "annual", COLUMNS)
    statements = []
    table._db.set_trace_callback(statements.append)
    for batch in range(7):
        table.add([["w%d" % batch, year, None, None, year / 3, batch] for year in range(1300, 2000)])
    table.close()
    inserts = [sql.count("), (") + 1 for sql in statements if sql.startswith("INSERT")]  # rows, values expanded
    assert inserts == [500, 200] * 7
    assert [sql for sql in statements if sql == "COMMIT"] == ["COMMIT"] * 4  # after 1,400, 2,800, 4,200; closing
    rows, count = read_back(path)
    assert count == stored_count(path) == 4900 == len(rows)
    assert rows[-1] == ["w6", 1999, None, None, 1999 / 3, 6]


def test_a_close_another_program_holds_up_leaves_the_file_as_a_cut_off_run_does(tmp_path, monkeypatch):
    """A reader holding the file past the wait: the close fails saying so, the rows committed before
    stay, OGR counts them itself, and closing again does nothing."""
    monkeypatch.setattr(gpkg_rows, "COMMIT_ROWS", 5)
    monkeypatch.setattr(gpkg_rows, "_LOCK_WAIT_SECONDS", 0.2)
    path = ogr_table(tmp_path / "annual.gpkg")
    table = GeoPackageRows(str(path), "annual", COLUMNS)
    table.add([["w%d" % i, 2000 + i, None, None, 0.5, i] for i in range(8)])  # committed
    with sqlite3.connect(path, isolation_level=None) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT * FROM annual").fetchall()  # a reader's lock, held
        table.add([["late", 2020, None, None, 0.5, 9]])
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            table.close()
        reader.execute("COMMIT")
    table.close()
    rows, count = read_back(path)
    assert [row[0] for row in rows] == ["w%d" % i for i in range(8)] and count == 8
    assert stored_count(path) is None


@pytest.mark.parametrize("case, reason", [
    ("has rows", "table annual already has rows"),
    ("other columns", "table annual has columns fid, id, year, start, time, share"),
    ("features", "table annual holds features, not attributes"),
    ("missing", "no table elsewhere in the file"),
    ("two tables", "the file has 2 tables, not one"),
])
def test_a_table_it_did_not_see_made_is_refused_and_left_as_it_was(tmp_path, case, reason):
    path = tmp_path / "annual.gpkg"
    if case == "has rows":
        ogr_table(path, rows=[["w1", 2011, "2011/01/01", None, 0.5, 1]])
    elif case == "other columns":
        ogr_table(path, columns=COLUMNS[:-1])
    elif case == "features":
        ogr_table(path, geometry=ogr.wkbPolygon)
    else:
        ogr_table(path)
        if case == "two tables":
            ogr_table(path, "events")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(UnsuitableTable) as refused:
        GeoPackageRows(str(path), "elsewhere" if case == "missing" else None if case == "two tables" else "annual",
                       COLUMNS)
    assert str(refused.value) == reason
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
