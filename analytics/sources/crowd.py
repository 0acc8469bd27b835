"""Crowds in camera zones: persons counted, density per m², how long they stay.

Config table: ``cameras[].zones`` (``ioc.config.models.CameraZone``: ``area_m2`` and ``thresholds``). It reads the
same ``zone`` observations as traffic (one ``ZoneStage`` for both), with its own metrics and rules.
"""

from __future__ import annotations

from pydantic import BaseModel

from analytics.sources.base import AlertSource, register
from analytics.sources.traffic import ZoneStage, zone_details, zone_subjects
from analytics.traffic import ZONE
from ioc.config.models import ALERT_METRICS, CameraZone, SiteConfig
from ioc.geo import AreaIndex


@register
class CrowdSource(AlertSource):
    """Persons in camera zones."""

    type = "crowd"
    observes = ZONE
    metrics = ALERT_METRICS["crowd"]
    stages = (ZoneStage,)
    config = CameraZone
    section = "cameras[].zones"
    subject_kind = "camera"

    @classmethod
    def subjects(cls, site: SiteConfig, metric: str) -> list[tuple[str, BaseModel]]:
        """Return every camera zone."""
        return zone_subjects(site)

    @classmethod
    def details(
        cls, site: SiteConfig, subject: str, metric: str, areas: AreaIndex | None
    ) -> tuple[str | None, dict[str, str | float | int]]:
        """Return the zone's commune, camera and zone names."""
        return zone_details(site, subject, areas)

    @classmethod
    def tick_subjects(cls, site: SiteConfig) -> tuple[str, ...]:
        """Return every camera (zone events are keyed by camera)."""
        return tuple(c.id for c in site.cameras)
