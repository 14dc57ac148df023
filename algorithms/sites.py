"""Load WIT results' sites: polygons that share a GROUP_FIELD value, read and written as one.

The layer is read twice: once for the group values alone (no geometry), to know each site's
subsites wherever they are in the layer, then in sites, a few hundred features at a time, so
each site's subsites reach the download pool together and a site is combined as its last
subsite is read, whatever the layer's order. A polygon whose value is NULL is a site of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from qgis.core import QgsFeature, QgsFeatureRequest, QgsGeometry, QgsProcessingFeatureSource, QgsProcessingFeedback
from qgis.PyQt.QtCore import Qt

from ..wit_provider.results.loader import LOADED, Loaded, LoadJob, SiteJob
from .qgis_compat import NO_GEOMETRY, SKIP_GEOMETRY_CHECKS, value_or_none

SITE_FIELDS = [("wit_subsites", "int", 0), ("wit_subsites_loaded", "int", 0), ("wit_dropped_dates", "int", 0)]
OVERLAP = 0.99  # a site whose loaded subsites' union is smaller than this share of their areas overlaps
_CHUNK = 500  # features read at once in the second pass (and held until their sites are sent)


def group_sites(source: QgsProcessingFeatureSource, group_field: str,
                feedback: QgsProcessingFeedback) -> list[tuple[str | None, list[int]]]:
    """(site name, feature ids) per site, in the order of each site's first feature; a NULL value
    gives a site of one named None. Values are told apart as the text they show as."""
    index = source.fields().lookupField(group_field)
    request = QgsFeatureRequest().setFlags(NO_GEOMETRY).setSubsetOfAttributes([index])
    found: dict[str, list[int]] = {}
    order: list[tuple[str | None, list[int]]] = []
    for count, feature in enumerate(source.getFeatures(request), 1):
        value = value_or_none(feature.attributes()[index])
        if value is None:
            order.append((None, [feature.id()]))
            continue
        name = _text(value)
        if name in found:
            found[name].append(feature.id())
        else:
            found[name] = members = [feature.id()]
            order.append((name, members))
        if count % 10_000 == 0 and feedback.isCanceled():
            break
    return order


def site_items(source: QgsProcessingFeatureSource, order: list[tuple[str | None, list[int]]],
               job: Callable[[QgsFeature], LoadJob],
               cover: float) -> Iterator[tuple[tuple[list[QgsFeature], LoadJob | SiteJob], LoadJob | SiteJob]]:
    """((subsites, job), job) per site in ``order``: a SiteJob for a group, the polygon's own LoadJob
    for a NULL value; the subsites' features stay with this thread."""
    start = 0
    while start < len(order):
        end, count = start, 0
        while end < len(order) and (count < _CHUNK or end == start):
            count += len(order[end][1])
            end += 1
        request = QgsFeatureRequest().setFilterFids([fid for _, fids in order[start:end] for fid in fids])
        features = {feature.id(): feature for feature in source.getFeatures(request, SKIP_GEOMETRY_CHECKS)}
        for value, fids in order[start:end]:
            subsites = [features[fid] for fid in fids if fid in features]
            if value is None:
                polygon = job(subsites[0])
                yield (subsites, polygon), polygon
            else:
                site = SiteJob(value, tuple(job(feature) for feature in subsites), cover)
                yield (subsites, site), site
        start = end


def site_feature(subsites: list[QgsFeature], url_index: int) -> QgsFeature:
    """The site as one feature: its first subsite's attributes (as QGIS's Dissolve keeps them), its
    result field emptied when it has several (a site has no one result), and every subsite's
    polygon collected into one multipolygon."""
    feature = QgsFeature(subsites[0])
    if len(subsites) > 1:
        attributes = feature.attributes()
        attributes[url_index] = None
        feature.setAttributes(attributes)
        geometry = QgsGeometry.collectGeometry([subsite.geometry() for subsite in subsites])
    else:
        geometry = QgsGeometry(subsites[0].geometry())
    geometry.convertToMultiType()
    feature.setGeometry(geometry)
    return feature


def overlap_warning(subsites: list[QgsFeature], job: SiteJob, loaded: Loaded,
                    area: Callable[[QgsGeometry], float | None]) -> str:
    """A warning when the loaded subsites overlap (their union under OVERLAP of their areas' sum):
    each is weighted by its whole area, so the overlap counts twice. '' otherwise."""
    chosen = [(feature, member) for feature, member, status in zip(subsites, job.subsites, loaded.subsites)
              if status == LOADED]
    if len(chosen) < 2:
        return ""
    total = sum(member.area_ha for _, member in chosen)
    union = area(QgsGeometry.unaryUnion([feature.geometry() for feature, _ in chosen]))
    if union is None or union >= OVERLAP * total:
        return ""
    return ("warning: its loaded subsites overlap: their union is %.1f ha, %.0f %% of the sum of their areas "
            "(%.1f ha); combined as they are, the overlap counted in each" % (union, 100 * union / total, total))


def _text(value: object) -> str:
    """A group value as the site's wit_id: 7 rather than 7.0 for a whole number read as a double,
    a date in ISO 8601."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "toString") and hasattr(value, "isValid"):  # QDate, QDateTime, QTime
        return value.toString(Qt.DateFormat.ISODate)
    return str(value)
