"""A WIT result table: parquet bytes → the five fractions over time, and its summary statistics.

Columns are found by name; ``time`` may be INT96 or an int64 timestamp (DEA's files hold
both); ``geometry`` and unknown columns are ignored. GDAL's Parquet driver is used where
the user's GDAL has one (QGIS 3.30+ installers), else pyarrow. No QGIS here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np

from .processes import interpreter

FRACTIONS = ("water", "wet", "pv", "npv", "bs")
_DAY_NS = 86_400 * 10**9


class TableError(Exception):
    """A result file is not a WIT table; the message is the reason shown for that polygon."""


@dataclass
class Series:
    """One polygon's observations: ``time`` as int64 nanoseconds since the epoch (UTC) and the fractions."""

    time: np.ndarray
    water: np.ndarray
    wet: np.ndarray
    pv: np.ndarray
    npv: np.ndarray
    bs: np.ndarray

    def __len__(self) -> int:
        return len(self.time)

    def __reduce__(self):
        """Pickled (to and from a worker process) as its columns alone; what is derived is found again."""
        return Series, tuple(getattr(self, name) for name in ("time",) + FRACTIONS)

    @cached_property
    def wetw(self) -> np.ndarray:
        """water + wet of each observation: summed once for the statistics, the years and the events."""
        return self.water + self.wet

    def wet_mask(self, threshold: float) -> np.ndarray:
        """An observation is wet when water + wet >= threshold (DEA's comparison); found once per threshold."""
        cached = self.__dict__.get("_wet_mask")
        if cached is None or cached[0] != threshold:
            cached = self.__dict__["_wet_mask"] = (threshold, self.wetw >= threshold)
        return cached[1]

    def dates(self) -> np.ndarray:
        """The UTC date of each observation, as days since 1970-01-01."""
        return np.floor_divide(self.time, _DAY_NS)


def reader_name() -> str | None:
    """'gdal' if GDAL has a Parquet driver, else 'pyarrow' if importable, else None."""
    from osgeo import gdal

    if gdal.GetDriverByName("Parquet") is not None:
        return "gdal"
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return None
    return "pyarrow"


def pyarrow_requirement() -> str:
    """The pyarrow that imports beside this Python's NumPy: pyarrow 26 and later need NumPy 2."""
    return "pyarrow<26" if int(np.__version__.split(".")[0]) < 2 else "pyarrow"


def install_hint(profile_dir: str) -> str:
    """How to put pyarrow into QGIS's Python: QGIS puts ``<profile>/python`` on sys.path at start."""
    python = interpreter() or "python3"
    target = profile_dir.rstrip("/\\") + "/python"
    return ("No parquet reader: this GDAL has no Parquet driver and pyarrow is not installed for QGIS's Python. "
            "Install pyarrow into your QGIS profile, then restart QGIS:\n"
            "  %s -m pip install --no-deps --target \"%s\" \"%s\"\n"
            "(--no-deps keeps QGIS's NumPy %s; pyarrow 26 and later need NumPy 2. If pip is missing, install it "
            "first: Debian/Ubuntu apt-get install python3-pip; the QGIS installers for Windows and macOS ship it.)"
            % (python, target, pyarrow_requirement(), np.__version__))


def read_series(data: bytes, reader: str) -> Series:
    """The rows of one result file, in file order."""
    columns = _read_gdal(data) if reader == "gdal" else _read_pyarrow(data)
    missing = [name for name in ("time",) + FRACTIONS if name not in columns]
    if missing:
        raise TableError("not a WIT result: no column %s" % ", ".join(missing))
    return Series(*(columns[name] for name in ("time",) + FRACTIONS))


def _read_pyarrow(data: bytes) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(pa.BufferReader(data))
        names = [n for n in ("time",) + FRACTIONS if n in file.schema_arrow.names]
        table = file.read(columns=names)
    except (pa.ArrowException, OSError) as error:
        raise TableError("not a readable parquet file: %s" % str(error).splitlines()[0][:200]) from None
    columns = {}
    for name in names:
        column = table.column(name)
        if name == "time":
            if not pa.types.is_timestamp(column.type):
                raise TableError("column time is %s, not a timestamp" % column.type)
            if column.null_count:
                raise TableError("column time has %d empty values" % column.null_count)
            column = column.cast(pa.timestamp("ns", tz=column.type.tz))
            columns[name] = column.cast(pa.int64()).to_numpy(zero_copy_only=False)
        else:
            columns[name] = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return columns


def _read_gdal(data: bytes) -> dict:
    from osgeo import gdal

    path = "/vsimem/wit-%s.parquet" % uuid.uuid4().hex
    gdal.FileFromMemBuffer(path, data)
    try:  # GDAL reports errors, or raises them when the application turned on gdal.UseExceptions() (QGIS 3.44)
        gdal.ErrorReset()
        return _gdal_columns(gdal.OpenEx(path, gdal.OF_VECTOR, allowed_drivers=["Parquet"]))
    except RuntimeError as error:
        raise TableError("not a readable parquet file: %s" % _unnamed(str(error), path)[:200]) from None
    except TableError as error:
        raise TableError(_unnamed(str(error), path)) from None
    finally:
        gdal.Unlink(path)


def _unnamed(message: str, path: str) -> str:
    """GDAL's words without the file's name in memory, which changes every read."""
    return message.replace("`%s'" % path, "the file").replace(path, "the file")


def _gdal_columns(dataset) -> dict:
    from osgeo import gdal

    if dataset is None:
        raise TableError("not a readable parquet file: %s" % (gdal.GetLastErrorMsg() or "GDAL cannot open it"))
    layer = dataset.GetLayer(0)
    definition = layer.GetLayerDefn()
    names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    wanted = [name for name in ("time",) + FRACTIONS if name in names]
    layer.SetIgnoredFields([name for name in names if name not in wanted] + ["OGR_GEOMETRY"])  # WIT's WKT too
    columns = None
    if hasattr(layer, "GetArrowStreamAsNumPy"):  # GDAL 3.6 and later: whole columns, not feature by feature
        try:
            columns = _arrow_columns(layer, wanted)
        except ImportError:  # its osgeo.gdal_array does not import (a NumPy it was not built for)
            layer.ResetReading()
    if columns is None:
        columns = _feature_columns(layer, definition, wanted)
    if gdal.GetLastErrorType() >= gdal.CE_Failure:  # a read that stopped early: not a series to trust
        raise TableError("not a readable parquet file: %s" % gdal.GetLastErrorMsg()[:200])
    return columns


def _arrow_columns(layer, wanted: list[str]) -> dict:
    """The wanted columns through GDAL's Arrow stream, as whole arrays; NULL fractions as NaN, as
    the pyarrow reader gives them."""
    batches = {name: [] for name in wanted}
    for batch in layer.GetArrowStreamAsNumPy(options=["INCLUDE_FID=NO"]):
        for name in wanted:
            batches[name].append(batch[name])
    columns = {}
    for name, parts in batches.items():  # one batch, plain arrays, for a WIT file: NumPy's masked arrays cost
        values = parts[0] if len(parts) == 1 else np.ma.concatenate(parts) if parts else np.empty(
            0, dtype="datetime64[ns]" if name == "time" else np.float64)
        missing = np.ma.count_masked(values) if np.ma.isMaskedArray(values) else 0
        if name == "time":
            if not np.issubdtype(values.dtype, np.datetime64):
                raise TableError("column time is %s, not a timestamp" % values.dtype)
            if missing:
                raise TableError("column time has %d empty values" % missing)
            columns[name] = np.asarray(values).astype("datetime64[ns]", copy=False).view(np.int64)
        else:
            columns[name] = (np.ma.filled(values.astype(np.float64), np.nan) if missing else
                             np.asarray(values, dtype=np.float64))
    return columns


def _feature_columns(layer, definition, wanted: list[str]) -> dict:
    """The wanted columns feature by feature, for a GDAL without the Arrow stream."""
    from osgeo import ogr

    if "time" in wanted:
        kind = definition.GetFieldDefn(definition.GetFieldIndex("time")).GetType()
        if kind != ogr.OFTDateTime:
            raise TableError("column time is %s, not a timestamp" % ogr.GetFieldTypeName(kind))
    rows = {name: [] for name in wanted}
    empty_times = 0
    for feature in layer:
        for name, values in rows.items():
            if name == "time":
                if feature.IsFieldSetAndNotNull(name):
                    values.append(_ogr_time_ns(feature, name))
                else:
                    empty_times += 1
            else:
                values.append(feature.GetFieldAsDouble(name) if feature.IsFieldSetAndNotNull(name) else np.nan)
    if empty_times:
        raise TableError("column time has %d empty values" % empty_times)
    return {name: np.asarray(values, dtype=np.int64 if name == "time" else np.float64)
            for name, values in rows.items()}


def _ogr_time_ns(feature, name: str) -> int:
    year, month, day, hour, minute, second, tz_flag = feature.GetFieldAsDateTime(name)
    moment = np.datetime64("%04d-%02d-%02dT%02d:%02d" % (year, month, day, hour, minute), "ns")
    offset = (tz_flag - 100) * 15 * 60 if tz_flag > 1 else 0  # OGR: 100 = UTC, steps of 15 minutes
    return int(moment.astype(np.int64)) + int(round((second - offset) * 1e9))


def merge(parts: list[Series]) -> Series:
    """Increments of one polygon → one series in time order. An observation missing a fraction (NULL
    in the file) is dropped, so statistics, metrics and plots count the same observations; a
    repeated timestamp keeps its first complete row."""
    if len(parts) == 1:
        joined = parts[0]
    else:
        joined = Series(*(np.concatenate([getattr(p, n) for p in parts]) for n in ("time",) + FRACTIONS))
    complete = np.logical_and.reduce([np.isfinite(getattr(joined, n)) for n in FRACTIONS])
    if not complete.all():
        joined = Series(*(getattr(joined, n)[complete] for n in ("time",) + FRACTIONS))
    order = np.argsort(joined.time, kind="stable")
    times = joined.time[order]
    keep = np.ones(len(times), dtype=bool)
    keep[1:] = times[1:] != times[:-1]
    chosen = order[keep]
    return Series(*(getattr(joined, n)[chosen] for n in ("time",) + FRACTIONS))


STAT_FIELDS = ("wit_obs", "wit_first", "wit_last", "wit_wet_pct", "wit_water_pct", "wit_max_wet", "wit_max_wet_ha",
               "wit_mean_water", "wit_mean_wet", "wit_mean_pv", "wit_mean_npv", "wit_mean_bs", "wit_events",
               "wit_longest_event_days", "wit_last_wet")


def wet_runs(wet: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) index of each maximal run of True in ``wet``, in order: the inundation events."""
    edges = np.diff(np.concatenate(([0], wet.view(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1


def statistics(series: Series, threshold: float, area_ha: float | None) -> dict:
    """The summary statistics of a merged series; dates are ``datetime.date``, NULL is None.
    Wet means ``Series.wet_mask``; an event is one of ``wet_runs``, as in the EVENTS table."""
    n = len(series)
    stats = dict.fromkeys(STAT_FIELDS)
    stats.update(wit_obs=n, wit_events=0, wit_longest_event_days=0)
    if n == 0:
        return stats
    wetw, wet = series.wetw, series.wet_mask(threshold)
    days = series.dates()
    stats.update(
        wit_first=utc_date(days[0]), wit_last=utc_date(days[-1]),
        wit_wet_pct=100.0 * float(np.count_nonzero(wet)) / n,
        wit_water_pct=100.0 * float(np.count_nonzero(series.water >= threshold)) / n,
        wit_max_wet=float(np.max(wetw)),
        **{"wit_mean_" + name: float(np.mean(getattr(series, name))) for name in FRACTIONS})
    stats["wit_max_wet_ha"] = None if area_ha is None else stats["wit_max_wet"] * area_ha
    first, last = wet_runs(wet)
    if len(first):
        stats.update(wit_events=len(first), wit_longest_event_days=int(np.max(days[last] - days[first])) + 1,
                     wit_last_wet=utc_date(days[last[-1]]))
    return stats


def utc_date(days: int) -> date:
    """Days since 1970-01-01 → the date."""
    return date.fromordinal(_EPOCH_ORDINAL + int(days))


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
