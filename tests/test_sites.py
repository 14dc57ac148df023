"""Sites of several polygons: the combined series and everything computed on it, checked against
pandas computing the documented rule on the sample's real series."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import WIT_SAMPLE
from test_history import assert_same, expected_history
from test_load_results import assert_same_statistics, pandas_statistics
from test_wit_metrics import pandas_annual
from wit_server.s3 import wit_parquet

from wit_provider.results.fetch import Fetcher
from wit_provider.results.history import summary
from wit_provider.results.loader import FAILED, LOADED, NO_RESULT, LoadJob, ResultLoader, SiteJob
from wit_provider.results.metrics import ANNUAL_NAMES
from wit_provider.results.table import FRACTIONS

THRESHOLD = 0.01


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    frame = pd.read_parquet(WIT_SAMPLE).drop(columns="geometry")
    return frame.assign(time=frame.time.dt.tz_localize("UTC"))


def frame_of(sample: pd.DataFrame, uid: str) -> pd.DataFrame:
    frame = sample[sample.XXX_UID == uid].drop(columns="XXX_UID")
    return frame.sort_values("time", kind="stable").drop_duplicates("time", keep="first").reset_index(drop=True)


def pandas_site(subsites: list[tuple[pd.DataFrame, float]], cover: float) -> tuple[pd.DataFrame, int]:
    """The rule, from its definition: per UTC date with any observation, A_obs = the areas of the
    subsites observed (each subsite by the mean of its observations that date); kept when A_obs >=
    cover x A_site; each fraction the area-weighted mean; the time the date's earliest."""
    site_area = sum(area for _, area in subsites)
    per_date = []
    for frame, area in subsites:
        daily = frame.assign(date=frame.time.dt.floor("D")).groupby("date").agg(
            time=("time", "min"), **{name: (name, "mean") for name in FRACTIONS})
        per_date.append(daily.assign(area=area))
    rows = pd.concat(per_date)
    weighted = rows[list(FRACTIONS)].mul(rows.area, axis=0).assign(area=rows.area, time=rows.time)
    dates = weighted.groupby(level="date").agg(time=("time", "min"), area=("area", "sum"),
                                               **{name: (name, "sum") for name in FRACTIONS})
    kept = dates[dates.area >= cover * site_area]
    site = kept[list(FRACTIONS)].div(kept.area, axis=0).assign(time=kept.time).reset_index(drop=True)
    return site[["time", *FRACTIONS]], len(dates) - len(kept)


def write(tmp_path, frame: pd.DataFrame, name: str) -> str:
    path = tmp_path / ("%s.parquet" % name)
    frame.to_parquet(path, index=False)
    return str(path)


def site_loader(**options) -> ResultLoader:
    return ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 1, keep_series=True, annual=True, events=True, **options)


def assert_same_series(loaded, expected: pd.DataFrame) -> None:
    series = loaded.series
    assert series.time.tolist() == expected.time.dt.tz_localize(None).astype("int64").tolist()
    for name in FRACTIONS:
        assert getattr(series, name).tolist() == pytest.approx(expected[name].tolist(), rel=1e-12, abs=1e-15), name


def load_site(tmp_path, sample, parts: list[tuple[str, float]], cover: float = 0.9):
    frames = [(frame_of(sample, uid), area) for uid, area in parts]
    job = SiteJob("site", tuple(LoadJob(uid, write(tmp_path, frame_of(sample, uid), uid), area)
                                for uid, area in parts), cover)
    return site_loader().load(job), frames


@pytest.mark.parametrize("parts, cover", [
    ([("100", 30.0), ("101", 10.0)], 0.9),
    ([("100", 30.0), ("101", 10.0)], 0.7),  # 101's dates alone (25 % of the site) are still dropped
    ([("100", 5.0), ("101", 7.5), ("102", 2.0), ("103", 12.0), ("104", 1.25)], 0.9),
    ([("100", 5.0), ("101", 7.5), ("102", 2.0), ("103", 12.0), ("104", 1.25)], 0.5),
])
def test_a_site_is_its_subsites_weighted_by_area_on_the_dates_that_cover_it(tmp_path, sample, parts, cover):
    loaded, frames = load_site(tmp_path, sample, parts, cover)
    assert loaded.status == LOADED, loaded.error
    expected, dropped = pandas_site(frames, cover)
    assert dropped > 0 and len(expected) > 300  # the sample's polygons are observed on different dates
    assert_same_series(loaded, expected)
    site_area = sum(area for _, area in parts)
    stats = {name: loaded.stats[name] for name in pandas_statistics(expected, THRESHOLD, site_area)}
    assert_same_statistics(stats, pandas_statistics(expected, THRESHOLD, site_area))
    assert (loaded.stats["wit_subsites"], loaded.stats["wit_subsites_loaded"], loaded.stats["wit_dropped_dates"]) == (
        len(parts), len(parts), dropped)
    assert loaded.subsites == [LOADED] * len(parts) and loaded.error == ""
    assert_same(loaded.stats, expected_history(expected.assign(time=expected.time.dt.tz_localize(None))))
    annual = pandas_annual(expected)
    assert [row[0] for row in loaded.annual] == [row["year"] for row in annual]
    for ours, theirs in zip(loaded.annual, annual):
        values = dict(zip(("year", "obs", "wet_obs", "valid", *ANNUAL_NAMES), ours))
        assert values == pytest.approx(theirs, rel=1e-12, abs=1e-12)


def test_a_subsite_observed_twice_on_a_date_counts_with_its_mean(tmp_path, sample):
    twice = frame_of(sample, "101")
    repeat = twice.iloc[[5]].assign(time=twice.time.iloc[5] + pd.Timedelta(minutes=7), water=0.9, wet=0.05, bs=0.05,
                                    pv=0.0, npv=0.0)
    twice = pd.concat([twice, repeat]).sort_values("time").reset_index(drop=True)
    frames = [(frame_of(sample, "100"), 3.0), (twice, 2.0)]
    job = SiteJob("site", (LoadJob("100", write(tmp_path, frames[0][0], "a"), 3.0),
                           LoadJob("101", write(tmp_path, twice, "b"), 2.0)), 0.9)
    loaded = site_loader().load(job)
    expected, dropped = pandas_site(frames, 0.9)
    assert_same_series(loaded, expected)
    date = twice.time.iloc[5].floor("D")
    row = expected[expected.time.dt.floor("D") == date]
    assert len(row) == 1 and loaded.stats["wit_dropped_dates"] == dropped
    single = pandas_site([(frames[0][0], 3.0), (frame_of(sample, "101"), 2.0)], 0.9)[0]
    assert row.water.iloc[0] != single[single.time.dt.floor("D") == date].water.iloc[0]  # the mean moved it


def test_a_failed_subsite_is_named_and_the_site_is_the_rest(tmp_path, sample):
    parts = [("100", 4.0), ("102", 6.0)]
    frames = [(frame_of(sample, uid), area) for uid, area in parts]
    job = SiteJob("site", (LoadJob("100", write(tmp_path, frames[0][0], "100"), 4.0),
                           LoadJob("missing", str(tmp_path / "missing.parquet"), 50.0),
                           LoadJob("102", write(tmp_path, frames[1][0], "102"), 6.0),
                           LoadJob("empty", "", 9.0)), 0.9)
    loaded = site_loader().load(job)
    assert loaded.status == LOADED
    assert loaded.subsites == [LOADED, FAILED, LOADED, NO_RESULT]
    assert loaded.error.startswith("subsite missing: ") and "; subsite empty: no result" in loaded.error
    expected, dropped = pandas_site(frames, 0.9)  # A_site is 10 ha: the unloaded subsites' areas do not count
    assert_same_series(loaded, expected)
    assert loaded.stats["wit_max_wet_ha"] == pytest.approx(expected[["water", "wet"]].sum(axis=1).max() * 10.0)
    assert (loaded.stats["wit_subsites"], loaded.stats["wit_subsites_loaded"]) == (4, 2)


def test_a_site_without_a_loaded_subsite(tmp_path):
    nothing = SiteJob("site", (LoadJob("a", "", 1.0), LoadJob("b", None, 1.0)))
    loaded = site_loader().load(nothing)
    assert (loaded.status, loaded.subsites, loaded.stats["wit_subsites_loaded"]) == (NO_RESULT, [NO_RESULT] * 2, 0)
    assert loaded.stats["wit_dropped_dates"] is None and "wit_obs" not in loaded.stats
    faulty = SiteJob("site", (LoadJob("a", "", 1.0), LoadJob("b", str(tmp_path / "gone.parquet"), 1.0)))
    loaded = site_loader().load(faulty)
    assert loaded.status == FAILED and loaded.error.startswith("subsite a: no result; subsite b: ")


def test_a_site_whose_every_date_is_below_the_cover_has_no_observations(tmp_path, sample):
    early = frame_of(sample, "100")
    day = pd.Timedelta(days=1)
    dates = set(early.time.dt.floor("D"))
    late = early[~(early.time.dt.floor("D") + day).isin(dates)].assign(time=lambda f: f.time + day)  # never together
    job = SiteJob("site", (LoadJob("a", write(tmp_path, early, "a"), 1.0),
                           LoadJob("b", write(tmp_path, late, "b"), 1.0)), 0.9)
    loaded = site_loader().load(job)
    assert loaded.status == LOADED and loaded.stats["wit_obs"] == 0 and len(loaded.series) == 0
    assert loaded.stats["wit_dropped_dates"] == len(dates) + len(set(late.time.dt.floor("D"))) > len(dates) + 100


def test_sites_through_the_pool_keep_input_order_with_polygons(tmp_path, sample):
    polygon = LoadJob("103", write(tmp_path, frame_of(sample, "103"), "103"), 2.0)
    site = SiteJob("s", (LoadJob("100", write(tmp_path, frame_of(sample, "100"), "100"), 1.0),
                         LoadJob("101", write(tmp_path, frame_of(sample, "101"), "101"), 1.0)))
    results = list(ResultLoader(Fetcher(), "pyarrow", THRESHOLD, 2).run(
        [("p", polygon), ("s", site), ("q", polygon)], lambda: False))
    assert [key for key, _ in results] == ["p", "s", "q"]
    assert [loaded.stats.get("wit_subsites") for _, loaded in results] == [None, 2, None]
    assert all(loaded.stats["wit_regime"] for _, loaded in results)


def test_wit_parquet_sample_is_what_the_engine_reads(tmp_path, sample):
    """The frames above are the sample as the server writes it: the same series either way."""
    path = tmp_path / "100.parquet"
    path.write_bytes(wit_parquet("100"))
    via_server = site_loader().load(SiteJob("s", (LoadJob("100", str(path), 1.0),), 0.9))
    via_frame, frames = load_site(tmp_path, sample, [("100", 1.0)])
    assert via_server.series.time.tolist() == via_frame.series.time.tolist()
    assert via_server.stats == via_frame.stats


def test_a_date_covering_exactly_the_cover_is_kept(tmp_path):
    """9 ha of a 10 ha site observed: 0.9 of it, kept at SITE_COVER 0.9; 8 ha of it is not."""
    def frame(days: list[int], water: float) -> pd.DataFrame:
        times = pd.to_datetime(["2020-01-%02d 23:30" % day for day in days]).tz_localize("UTC")
        return pd.DataFrame({"time": times, "water": water, "wet": 0.0, "bs": 1 - water, "pv": 0.0, "npv": 0.0})

    big, small, other = frame([1, 2, 3], 0.5), frame([1], 0.1), frame([2], 0.2)
    job = SiteJob("s", (LoadJob("big", write(tmp_path, big, "big"), 9.0), LoadJob("small", write(
        tmp_path, small, "small"), 1.0)), 0.9)
    loaded = site_loader().load(job)
    assert loaded.series.water.tolist() == pytest.approx([(9 * 0.5 + 0.1) / 10, 0.5, 0.5])
    assert loaded.stats["wit_dropped_dates"] == 0
    job = SiteJob("s", (LoadJob("big", write(tmp_path, big.iloc[:2], "big8"), 8.0),
                        LoadJob("other", write(tmp_path, other, "other"), 2.0)), 0.9)
    loaded = site_loader().load(job)
    assert loaded.series.water.tolist() == pytest.approx([(8 * 0.5 + 2 * 0.2) / 10])  # 1 January: 0.8 of it
    assert loaded.stats["wit_dropped_dates"] == 1


def test_the_worked_example_of_the_docs(tmp_path):
    """docs/results.md's site of 6, 3 and 1 ha, observed on three dates."""
    def frame(observations: list[tuple[str, float]]) -> pd.DataFrame:
        times = pd.to_datetime(["%s 23:30" % day for day, _ in observations]).tz_localize("UTC")
        water = [w for _, w in observations]
        return pd.DataFrame({"time": times, "water": water, "wet": 0.0, "bs": [1 - w for w in water], "pv": 0.0,
                             "npv": 0.0})

    subsites = [(frame([("2020-01-01", 0.5), ("2020-01-17", 0.4), ("2020-02-02", 0.3)]), 6.0),
                (frame([("2020-01-01", 0.2), ("2020-01-17", 0.4)]), 3.0), (frame([("2020-01-01", 0.1)]), 1.0)]
    job = SiteJob("s", tuple(LoadJob(str(i), write(tmp_path, f, str(i)), area) for i, (f, area) in enumerate(subsites)))
    loaded = site_loader().load(job)
    assert loaded.series.water.tolist() == pytest.approx([0.37, 0.40])
    assert loaded.stats["wit_dropped_dates"] == 1


def test_a_subsite_without_an_area_is_left_out_and_named(tmp_path, sample):
    parts = [("100", 4.0), ("102", 6.0)]
    frames = [(frame_of(sample, uid), area) for uid, area in parts]
    job = SiteJob("site", (LoadJob("100", write(tmp_path, frames[0][0], "100"), 4.0),
                           LoadJob("flat", write(tmp_path, frames[1][0], "flat"), None),
                           LoadJob("102", write(tmp_path, frames[1][0], "102"), 6.0)), 0.9)
    loaded = site_loader().load(job)
    assert (loaded.status, loaded.subsites) == (LOADED, [LOADED, FAILED, LOADED])
    assert loaded.error == "subsite flat: it has no area (an empty geometry) to weigh it by"
    assert_same_series(loaded, pandas_site(frames, 0.9)[0])


def test_the_plot_names_the_site_and_its_dates(tmp_path, sample, monkeypatch):
    from wit_provider.results import plot

    drawn = []
    monkeypatch.setattr(plot, "write_plot", lambda series, ident, path, subtitle: drawn.append((ident, subtitle)))
    parts = [("100", 5.0), ("101", 7.5), ("102", 2.0)]
    job = SiteJob("Lake X", tuple(LoadJob(uid, write(tmp_path, frame_of(sample, uid), uid), area)
                                  for uid, area in parts) + (LoadJob("none", "", 1.0),))
    loaded = site_loader(plots_dir=str(tmp_path)).load(job)
    expected, dropped = pandas_site([(frame_of(sample, uid), area) for uid, area in parts], 0.9)
    first, second = drawn[0][1].split("\n")
    assert drawn[0][0] == "Lake X" and first == (
        "site of 4 subsites (3 loaded): %d dates kept, %d under 90 %% cover dropped" % (len(expected), dropped))
    assert second.startswith("regime ") and second == summary(loaded.stats)
