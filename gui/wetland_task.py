"""What the WIT explorer shows for each selected wetland, read in a background task.

The main thread turns the selected features into plain ``WetlandRequest``s and makes feature
sources of the project's TIMESERIES, ANNUAL and EVENTS layers (QgsVectorLayerFeatureSource is
meant for reading in another thread); ``WetlandTask`` then reads each wetland's series, from the
TIMESERIES table where it has the wetland, else from the result file itself (the same fetch as
Load WIT results), and its annual maxima and events, from ANNUAL and EVENTS where loaded, else
computed from the series. The map never waits for a download.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from qgis.core import (
    QgsApplication,
    QgsFeatureRequest,
    QgsProject,
    QgsTask,
    QgsVectorLayer,
    QgsVectorLayerFeatureSource,
    QgsWkbTypes,
)

from ..wit_provider.qgis_bridge.network import ca_bundle, proxy_rule
from ..wit_provider.qgis_bridge.values import nanoseconds, number, plain
from ..wit_provider.results.fetch import Fetcher, FetchError, S3Settings, parse_locations
from ..wit_provider.results.history import History, history
from ..wit_provider.results.metrics import VALID_YEAR_OBS, inundation_events, years_of
from ..wit_provider.results.table import FRACTIONS, Series, TableError, install_hint, merge, read_series, reader_name

WET_THRESHOLD = 0.01  # Load WIT results' default: events computed here use it too
TIMESERIES_FIELDS = {"id", "time", *FRACTIONS}
ANNUAL_FIELDS = {"id", "year", "wetw_max"}
EVENT_FIELDS = {"id", "start", "end", "duration_days", "max_wet_ha"}


@dataclass(frozen=True)
class WetlandRequest:
    """One selected polygon, as plain data: its name, result location and area, or why it has no result."""

    ident: str
    location: object = None
    area_ha: float | None = None
    reason: str = ""
    location_field: str = "wit_url"
    past: dict = field(default_factory=dict)  # the layer's comparison with the past, where it has one
    subsites: int = 1  # a site of Load WIT results' GROUP_FIELD: its series is only in TIMESERIES


@dataclass
class Wetland:
    """What the dock shows for one polygon. ``reason`` is set when there is nothing to plot."""

    ident: str
    series: Series | None = None
    annual: list = field(default_factory=list)  # (year, wetw_max, valid)
    events: list = field(default_factory=list)  # (start, end, duration_days, max_wet_ha)
    history: History | None = None  # its valid years and Sen's line, from the series
    past: dict = field(default_factory=dict)  # HISTORY_FIELDS: the layer's where it has them, else computed
    reason: str = ""
    source: str = ""  # where the series came from
    tables: str = ""  # where the yearly maxima and events came from


def layer_with_fields(names: set, spatial: bool | None = None) -> QgsVectorLayer | None:
    """The first vector layer of the project with these fields (and geometry or not)."""
    for layer in QgsProject.instance().mapLayers().values():
        if not isinstance(layer, QgsVectorLayer) or not layer.isValid():
            continue
        if spatial is not None and (layer.geometryType() != QgsWkbTypes.GeometryType.NullGeometry) != spatial:
            continue
        if names <= set(layer.fields().names()):
            return layer
    return None


@dataclass
class Sources:
    """Feature sources of the project's WIT tables, made on the main thread."""

    timeseries: QgsVectorLayerFeatureSource | None = None
    annual: QgsVectorLayerFeatureSource | None = None
    events: QgsVectorLayerFeatureSource | None = None
    names: dict = field(default_factory=dict)

    @classmethod
    def of_project(cls) -> Sources:
        found = {"timeseries": layer_with_fields(TIMESERIES_FIELDS, spatial=False),
                 "annual": layer_with_fields(ANNUAL_FIELDS | {"start", "end", "obs"}),
                 "events": layer_with_fields(EVENT_FIELDS | {"event", "gap_days"}, spatial=False)}
        return cls(**{kind: QgsVectorLayerFeatureSource(layer) if layer else None for kind, layer in found.items()},
                   names={kind: layer.name() for kind, layer in found.items() if layer})


class WetlandTask(QgsTask):
    """Reads the wetlands in the background; ``done(wetlands)`` is called on the main thread,
    unless the task was cancelled (a newer selection)."""

    def __init__(self, requests: list[WetlandRequest], sources: Sources, s3: S3Settings,
                 done: Callable[[list[Wetland] | None], None]):
        super().__init__("WIT explorer: reading %d wetland(s)" % len(requests), QgsTask.Flag.CanCancel)
        self.requests = requests
        self.sources = sources
        self.done = done
        self.fetcher = Fetcher(s3, ca_bundle=ca_bundle(), proxy=proxy_rule())  # QgsSettings: main thread
        self.profile = QgsApplication.qgisSettingsDirPath()
        self.wetlands: list[Wetland] = []

    def run(self) -> bool:
        try:
            for request in self.requests:
                if self.isCanceled():
                    return False
                self.wetlands.append(self._read(request))
        finally:
            self.fetcher.close()
        return not self.isCanceled()

    def finished(self, result: bool) -> None:
        """On the main thread: ``done`` gets the wetlands, or None when the read was cancelled (the
        dock replaces ``done`` before it cancels a read for a newer selection)."""
        self.done(None if self.isCanceled() else self.wetlands)

    def _read(self, request: WetlandRequest) -> Wetland:
        wetland = Wetland(request.ident, reason=request.reason)
        if wetland.reason:
            return wetland
        try:
            self._fill(wetland, request)
        except (FetchError, TableError) as reason:
            wetland.reason = "%s: its result could not be read: %s" % (request.ident, reason)
        except Exception as error:  # a table of unexpected types, a bug: said, never a dock left waiting
            wetland.reason = "%s: could not be shown: %r" % (request.ident, error)
        if wetland.reason:
            wetland.series = None
        return wetland

    def _fill(self, wetland: Wetland, request: WetlandRequest) -> None:
        wetland.series, wetland.source = self._series(request)
        if not len(wetland.series):
            wetland.reason = "%s: its result has no observations" % request.ident
            return
        years = years_of(wetland.series, WET_THRESHOLD)
        wetland.history = history(years)
        wetland.past = request.past or wetland.history.fields()
        annual = self._rows(self.sources.annual, request.ident, ("year", "wetw_max", "obs"), "year")
        if annual:  # the wetland is in the loaded ANNUAL: its run's EVENTS hold all its events, maybe none
            wetland.annual = [(int(year), number(peak), int(obs) >= VALID_YEAR_OBS) for year, peak, obs in annual]
            wetland.events = [(start, end, int(days), number(max_ha)) for start, end, days, max_ha in self._rows(
                self.sources.events, request.ident, ("start", "end", "duration_days", "max_wet_ha"), "event")]
            wetland.tables = "tables '%s', '%s'" % (self.sources.names.get("annual"),
                                                    self.sources.names.get("events", "-"))
            return
        wetland.annual = list(zip(years.years.tolist(), years.wetw_max.tolist(), years.valid().tolist()))
        wetland.events = [(start, end, days, max_ha) for _, start, end, days, _, _, _, max_ha, _ in
                          inundation_events(wetland.series, WET_THRESHOLD, request.area_ha)]
        wetland.tables = "computed from the series"

    def _series(self, request: WetlandRequest) -> tuple[Series, str]:
        if self.sources.timeseries is not None:
            rows = self._rows(self.sources.timeseries, request.ident, ("time",) + FRACTIONS, "time")
            if rows:
                times = np.array([nanoseconds(row[0]) for row in rows], dtype=np.int64)
                columns = [np.array([number(row[i]) for row in rows], dtype=np.float64) for i in range(1, 6)]
                return merge([Series(times, *columns)]), "table '%s'" % self.sources.names["timeseries"]
        if request.subsites > 1:
            raise FetchError("it is a site of %d subsites, whose combined series is in Load WIT results' TIMESERIES "
                             "output: add that table to the project to see it here" % request.subsites)
        locations = parse_locations(request.location)
        if not locations:
            raise FetchError("it is not in a loaded TIMESERIES table and %s is empty" % request.location_field)
        reader = reader_name()
        if reader is None:
            raise TableError(install_hint(self.profile))
        return merge([read_series(self.fetcher.fetch(location), reader) for location in locations]), locations[0]

    def _rows(self, source, ident: str, names: tuple, order: str) -> list:
        """The rows of ``source`` whose id is ``ident``, as tuples of ``names``, ordered by ``order``."""
        if source is None:
            return []
        request = QgsFeatureRequest().setFilterExpression('"id" = %s' % _quoted(ident))
        request.addOrderBy('"%s"' % order)
        rows = []
        for feature in source.getFeatures(request):
            rows.append(tuple(plain(feature[name]) for name in names))
        return rows


def _quoted(text: str) -> str:
    return "'%s'" % text.replace("'", "''")
