"""The results engine without QGIS: fetching, the WIT table and its statistics, plots, the pool."""

from __future__ import annotations

import io
import json
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import WIT_SAMPLE
from matplotlib.image import imread
from wit_server.s3 import sample_uids, wit_parquet

from wit_provider.results.fetch import Fetcher, FetchError, S3Settings, parse_locations
from wit_provider.results.loader import FAILED, LOADED, NO_RESULT, LoadJob, ResultLoader
from wit_provider.results.plot import plot_name
from wit_provider.results.table import TableError, merge, read_series, statistics

THRESHOLD = 0.01


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.read_parquet(WIT_SAMPLE)


def pandas_statistics(frame: pd.DataFrame, threshold: float, area_ha: float) -> dict:
    """The documented definitions (wet: water + wet >= T), computed independently with pandas."""
    frame = frame.sort_values("time", kind="stable").drop_duplicates("time", keep="first").reset_index(drop=True)
    wetw = frame.water + frame.wet
    wet = wetw >= threshold
    dates = frame.time.dt.tz_localize(None).dt.normalize()
    run_ids = (wet != wet.shift()).cumsum()[wet]
    spans = [(dates[group.index[-1]] - dates[group.index[0]]).days + 1 for _, group in run_ids.groupby(run_ids)]
    return {
        "wit_obs": len(frame), "wit_first": dates.iloc[0].date(), "wit_last": dates.iloc[-1].date(),
        "wit_wet_pct": 100 * wet.mean(), "wit_water_pct": 100 * (frame.water >= threshold).mean(),
        "wit_max_wet": wetw.max(), "wit_max_wet_ha": wetw.max() * area_ha,
        **{"wit_mean_" + n: frame[n].mean() for n in ("water", "wet", "pv", "npv", "bs")},
        "wit_events": len(spans), "wit_longest_event_days": max(spans, default=0),
        "wit_last_wet": dates[wet].iloc[-1].date() if wet.any() else None,
    }


def assert_same_statistics(ours: dict, expected: dict) -> None:
    assert ours.keys() == expected.keys()
    for name, value in expected.items():
        if isinstance(value, float):
            assert ours[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
        else:
            assert ours[name] == value, name


def _readers() -> list[str]:
    """pyarrow always; GDAL's Parquet driver where this GDAL has it (the test matrix's sid root,
    where tests/test_qgis_compat.py asserts it is there), through its Arrow stream and, as a GDAL
    older than 3.6 reads, feature by feature."""
    from osgeo import gdal

    return ["pyarrow"] + (["gdal", "gdal-features"] if gdal.GetDriverByName("Parquet") is not None else [])


def reader_name(reader: str, monkeypatch) -> str:
    """The reader's name for read_series; for 'gdal-features', GDAL without its Arrow stream."""
    if reader == "gdal-features":
        from osgeo import ogr

        monkeypatch.delattr(ogr.Layer, "GetArrowStreamAsNumPy")
        return "gdal"
    return reader


@pytest.mark.parametrize("reader", _readers())
@pytest.mark.parametrize("encoding", ["int96", "int64"])
def test_statistics_of_every_sample_polygon_match_pandas(sample, encoding, reader, monkeypatch):
    reader = reader_name(reader, monkeypatch)
    for uid in sample_uids():
        data = wit_parquet(uid, encoding)
        assert (pq.ParquetFile(io.BytesIO(data)).metadata.schema.column(0).physical_type
                == ("INT96" if encoding == "int96" else "INT64"))
        series = merge([read_series(data, reader)])
        frame = sample[sample.XXX_UID == uid]
        assert_same_statistics(statistics(series, THRESHOLD, 12.5), pandas_statistics(frame, THRESHOLD, 12.5))


def test_a_higher_threshold_changes_the_statistics_as_pandas_does(sample):
    series = merge([read_series(wit_parquet("149"), "pyarrow")])
    expected = pandas_statistics(sample[sample.XXX_UID == "149"], 0.3, 2.0)
    assert_same_statistics(statistics(series, 0.3, 2.0), expected)
    assert expected["wit_events"] != pandas_statistics(sample[sample.XXX_UID == "149"], THRESHOLD, 2.0)["wit_events"]


def test_no_wet_observation():
    series = merge([read_series(wit_parquet("2", dry=True), "pyarrow")])
    stats = statistics(series, THRESHOLD, 3.0)
    assert stats["wit_obs"] > 300
    assert (stats["wit_events"], stats["wit_longest_event_days"], stats["wit_last_wet"]) == (0, 0, None)
    assert stats["wit_wet_pct"] == 0 and stats["wit_max_wet"] == 0 and stats["wit_max_wet_ha"] == 0


def two_increments(folder, sample: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Polygon 150's series as two increment files sharing 10 observations, whose water the second
    file changes (a repeated timestamp keeps the first increment's row); the whole series and the
    wit_url value (a JSON array) of the two files."""
    frame = sample[sample.XXX_UID == "150"].drop(columns="XXX_UID").reset_index(drop=True)
    half = len(frame) // 2
    first, second = frame.iloc[: half + 10], frame.iloc[half:].copy()
    second.loc[second.index[:10], "water"] = 0.99
    paths = []
    for number, part in enumerate((first, second)):
        path = folder / ("part%d.parquet" % number)
        part.to_parquet(path, index=False)
        paths.append(str(path))
    return frame, json.dumps(paths)


def test_two_increments_are_merged_and_repeated_timestamps_dropped(tmp_path, sample):
    frame, location = two_increments(tmp_path, sample)
    loader = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 2, keep_series=True)
    loaded = loader.load(LoadJob("150", location, 1.0))
    assert loaded.status == LOADED, loaded.error
    assert len(loaded.series) == len(frame.drop_duplicates("time"))
    expected = pandas_statistics(frame, THRESHOLD, 1.0)
    assert_same_statistics({name: loaded.stats[name] for name in expected}, expected)


@pytest.mark.parametrize("value, expected", [
    (None, []), ("", []), ("  ", []), ("s3://b/k", ["s3://b/k"]), ('["s3://b/1", "s3://b/2"]', ["s3://b/1", "s3://b/2"]),
])
def test_locations(value, expected):
    assert parse_locations(value) == expected


def test_a_broken_json_array_fails_with_the_reason():
    loaded = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1).load(LoadJob("x", '["s3://b/1", '))
    assert loaded.status == FAILED and "not a valid JSON array" in loaded.error


def test_empty_location_is_no_result():
    for value in (None, ""):
        loaded = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1).load(LoadJob("x", value))
        assert (loaded.status, loaded.stats) == (NO_RESULT, {})


@pytest.mark.parametrize("reader", _readers())
@pytest.mark.parametrize("exceptions", [False, True], ids=["gdal-errors", "gdal-exceptions"])
@pytest.mark.parametrize("damage", ["not-parquet", "truncated"])
def test_a_file_that_is_not_parquet_is_refused_with_the_reason(reader, exceptions, damage, monkeypatch):
    """QGIS 3.44 turns on GDAL's Python exceptions, 3.22 leaves them off: both read the same."""
    from osgeo import gdal

    reader = reader_name(reader, monkeypatch)
    whole = wit_parquet("149")
    data = b"PAR1 this is not parquet" if damage == "not-parquet" else whole[: len(whole) // 2]
    before = gdal.GetUseExceptions()
    gdal.UseExceptions() if exceptions else gdal.DontUseExceptions()
    try:
        with pytest.raises(TableError, match="^not a readable parquet file"):
            read_series(data, reader)
    finally:
        gdal.UseExceptions() if before else gdal.DontUseExceptions()


def _table_bytes(columns: dict) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


WIT_TIMES = pa.array([10**18, 10**18 + 86_400 * 10**9, 10**18 + 2 * 86_400 * 10**9], pa.timestamp("ns", tz="UTC"))


@pytest.mark.parametrize("reader", _readers())
def test_a_null_fraction_is_nan_and_its_observation_dropped(reader, monkeypatch):
    reader = reader_name(reader, monkeypatch)
    fractions = {name: [0.1, 0.2, 0.3] for name in ("water", "wet", "pv", "npv", "bs")}
    fractions["pv"] = [0.1, None, 0.3]
    series = read_series(_table_bytes({"time": WIT_TIMES, **fractions}), reader)
    assert series.time.tolist() == WIT_TIMES.cast(pa.int64()).to_pylist()
    assert np.isnan(series.pv[1]) and series.pv[[0, 2]].tolist() == [0.1, 0.3]
    assert merge([series]).time.tolist() == series.time[[0, 2]].tolist()  # statistics count the complete ones


@pytest.mark.parametrize("reader", _readers())
@pytest.mark.parametrize("times, reason", [
    (pa.array([1.0, 2.0, 3.0]), "^column time is .*, not a timestamp$"),
    (pa.array([10**18, None, 10**18 + 1], pa.timestamp("ns", tz="UTC")), "^column time has 1 empty values$"),
], ids=["not-a-timestamp", "empty-time"])
def test_a_time_column_that_is_no_series_fails_saying_so(reader, times, reason, monkeypatch):
    reader = reader_name(reader, monkeypatch)
    fractions = {name: [0.1, 0.2, 0.3] for name in ("water", "wet", "pv", "npv", "bs")}
    with pytest.raises(TableError, match=reason):
        read_series(_table_bytes({"time": times, **fractions}), reader)


def test_corrupt_file_fails_with_the_reason(s3_server):
    uri = s3_server.put("results", "wit/corrupt.snappy.parquet", b"PAR1 this is not parquet")
    loaded = ResultLoader(Fetcher(S3Settings(s3_server.endpoint)), "pyarrow", THRESHOLD, 1).load(LoadJob("x", uri))
    assert loaded.status == FAILED and loaded.error.startswith("not a readable parquet file")


def test_a_parquet_without_wit_columns_fails(tmp_path):
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"time": pa.array([1], pa.timestamp("ns")), "water": [0.5]}), path)
    loaded = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1).load(LoadJob("x", str(path)))
    assert loaded.status == FAILED and loaded.error == "not a WIT result: no column wet, pv, npv, bs"


def test_s3_read_404_and_403(s3_server):
    settings = S3Settings(s3_server.endpoint)
    body = wit_parquet("7")
    uri = s3_server.put("results", "wit/a/a.snappy.parquet", body)
    assert Fetcher(settings).fetch(uri) == body
    with pytest.raises(FetchError, match=r"^404 Not Found: no object at s3://results/wit/missing.parquet$"):
        Fetcher(settings).fetch("s3://results/wit/missing.parquet")
    private = s3_server.put("private", "wit/b/b.snappy.parquet", body)
    s3_server.deny_reads("private")
    with pytest.raises(FetchError) as refused:
        Fetcher(settings).fetch(private)
    assert str(refused.value).startswith("403 Forbidden: the bucket needs credentials; set AWS_PROFILE")
    assert "testing" not in str(refused.value)  # never the credentials


def test_s3_options_are_scoped_to_the_bucket_and_the_run(s3_server):
    from osgeo import gdal

    fetcher = Fetcher(S3Settings(s3_server.endpoint))
    fetcher.fetch(s3_server.put("scoped", "k", b"x"))
    assert gdal.GetConfigOption("AWS_S3_ENDPOINT") is None
    assert gdal.GetPathSpecificOption("/vsis3/scoped/k", "AWS_S3_ENDPOINT") == "127.0.0.1:%d" % s3_server.port
    assert gdal.GetPathSpecificOption("/vsis3/other-bucket/k", "AWS_S3_ENDPOINT") is None
    fetcher.close()  # the run ended: a later run without S3_ENDPOINT must not inherit it
    assert gdal.GetPathSpecificOption("/vsis3/scoped/k", "AWS_S3_ENDPOINT") is None
    assert gdal.GetPathSpecificOption("/vsis3/scoped/k", "AWS_VIRTUAL_HOSTING") is None


def test_an_object_written_after_a_404_is_found_by_the_next_run(s3_server):
    location = "s3://later/wit/result.parquet"
    s3_server.put("later", "other", b"x")  # the bucket exists, the object not yet
    first = Fetcher(S3Settings(s3_server.endpoint))
    with pytest.raises(FetchError, match="404"):
        first.fetch(location)
    first.close()
    s3_server.put("later", "wit/result.parquet", b"now")
    assert Fetcher(S3Settings(s3_server.endpoint)).fetch(location) == b"now"  # not GDAL's cached "no such file"


def test_local_file_and_missing_file(tmp_path):
    path = tmp_path / "r.parquet"
    path.write_bytes(b"abc")
    assert Fetcher().fetch(str(path)) == b"abc"
    with pytest.raises(FetchError, match="no file"):
        Fetcher().fetch(str(tmp_path / "none.parquet"))


def test_plot_is_written_under_a_sanitised_name(tmp_path):
    loader = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1, plots_dir=str(tmp_path))
    path = tmp_path / "in.parquet"
    path.write_bytes(wit_parquet("149"))
    loaded = loader.load(LoadJob("Lake George / east #2", str(path)))
    assert plot_name("Lake George / east #2") == "Lake_George___east__2.png"
    assert loaded.plot == str(tmp_path / "Lake_George___east__2.png")
    image = imread(loaded.plot)
    assert image.shape[:2] == (400, 1200)
    colours = {tuple((pixel[:3] * 255).round().astype(int)) for pixel in image[::4, ::4].reshape(-1, image.shape[2])}
    assert len(colours) > 50  # stacked areas drawn, not an empty frame


class BlockingFetcher(Fetcher):
    """Every read waits until released: the test sees what the pool does meanwhile."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()
        self.started = []

    def fetch(self, location):
        self.started.append(location)
        self.release.wait()
        raise FetchError("released")


def test_the_pool_reads_ahead_a_bounded_window_and_keeps_input_order():
    fetcher = BlockingFetcher()
    pulled = []

    def items():
        for index in range(1000):
            pulled.append(index)
            yield index, LoadJob(str(index), "/nowhere/%d" % index)

    loader = ResultLoader(fetcher, "pyarrow", THRESHOLD, 4)
    results = loader.run(items(), lambda: False)
    fetcher.release.set()
    first = [next(results) for _ in range(5)]
    assert [index for index, _ in first] == list(range(5))
    assert len(pulled) <= 5 + 2 * 4  # never the whole layer in memory
    assert len(list(results)) == 995


def test_cancel_stops_the_run_while_reads_hang():
    fetcher = BlockingFetcher()
    loader = ResultLoader(fetcher, "pyarrow", THRESHOLD, 3)
    cancelled = lambda: len(fetcher.started) == 3  # noqa: E731  (Cancel pressed while three reads hang)
    done = list(loader.run(((i, LoadJob(str(i), "/x/%d" % i)) for i in range(100)), cancelled))
    assert done == [] and len(fetcher.started) == 3  # returned although no read finished
    hung = [t for t in threading.enumerate() if t.name.startswith("wit-load") and t.is_alive()]
    assert hung and all(t.daemon for t in hung)  # a hung read never holds qgis_process at exit
    fetcher.release.set()


def test_a_plot_that_cannot_be_written_keeps_the_statistics(tmp_path):
    path = tmp_path / "r.parquet"
    path.write_bytes(wit_parquet("16"))
    not_a_folder = tmp_path / "plots"
    not_a_folder.write_text("a file where the plots folder should be")
    loaded = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1, str(not_a_folder)).load(LoadJob("16", str(path)))
    assert loaded.status == LOADED and loaded.stats["wit_obs"] > 0
    assert loaded.error.startswith("the plot could not be written") and not loaded.plot


def test_a_polygon_whose_dispatch_did_not_succeed_is_not_loaded_from_a_partial_series(tmp_path):
    path = tmp_path / "r.parquet"
    path.write_bytes(wit_parquet("16"))
    loader = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1)
    partial = loader.load(LoadJob("16", json.dumps([str(path)]), dispatch_status="failed"))
    assert partial.status == FAILED and "its dispatch is 'failed' (wit_status)" in partial.error
    assert not partial.stats
    assert loader.load(LoadJob("16", str(path), dispatch_status="succeeded")).status == LOADED


def test_http_locations_read_and_refusals_give_the_status():
    import http.server

    body = wit_parquet("16")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/ok.parquet":
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(403 if self.path.startswith("/private") else 404)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % server.server_address[1]
    try:
        loader = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1)
        assert loader.load(LoadJob("a", base + "/ok.parquet")).stats["wit_obs"] == len(read_series(body, "pyarrow"))
        refused = loader.load(LoadJob("b", base + "/private/x.parquet?X-Amz-Signature=secret"))
        assert refused.error == "403 Forbidden: the server needs credentials (%s/private/x.parquet)" % base
        assert loader.load(LoadJob("c", base + "/gone.parquet")).error.startswith("404 Not Found")
    finally:
        server.shutdown()


def test_a_single_observation_on_29_february_still_plots(tmp_path):
    import numpy as np

    from wit_provider.results.plot import write_plot
    from wit_provider.results.table import Series

    moment = np.array([np.datetime64("2012-02-29T10:00", "ns").astype(np.int64)])
    write_plot(Series(moment, *(np.array([v]) for v in (0.1, 0.2, 0.3, 0.2, 0.1))), "one", str(tmp_path / "one.png"))
    assert imread(str(tmp_path / "one.png")).shape[:2] == (400, 1200)


def test_the_plot_says_regime_trend_and_rank_under_its_title(tmp_path, monkeypatch):
    from wit_provider.results import plot
    from wit_provider.results.history import summary

    drawn = {}
    real = plot.write_plot

    def spy(series, title_id, path, subtitle=""):
        drawn[title_id] = subtitle
        real(series, title_id, path, subtitle)

    monkeypatch.setattr(plot, "write_plot", spy)
    path = tmp_path / "150.parquet"
    path.write_bytes(wit_parquet("150"))
    loaded = ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1, plots_dir=str(tmp_path)).load(LoadJob("150", str(path)))
    assert loaded.plot == str(tmp_path / "150.png") and imread(loaded.plot).shape[:2] == (400, 1200)
    assert drawn["150"] == summary(loaded.stats) and drawn["150"].startswith("regime permanent; ")
    figure = plot.plot_figure(merge([read_series(path.read_bytes(), "pyarrow")]), "150", drawn["150"])
    (axes,) = figure.axes
    texts = [text.get_text() for text in axes.texts]
    assert axes.get_title() == "Wetlands Insight Tool: 150" and texts == [drawn["150"]]
    title, subtitle = (t.get_window_extent(figure.canvas.get_renderer()) for t in (axes.title, axes.texts[0]))
    assert subtitle.y1 <= title.y0 and subtitle.y0 >= axes.get_window_extent().y1  # between title and plot
