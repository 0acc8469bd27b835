"""Crowds in camera zones: persons counted, density per m², how long they stay.

Config table: ``cameras[].zones`` (``ioc.config.models.CameraZone``: ``area_m2`` and ``thresholds``). It reads the
same ``zone`` observations as traffic (one ``ZoneStage`` for both, and the ``ZoneSource`` base of
``analytics.sources.traffic``), with its own metrics and rules.
"""

from __future__ import annotations

from analytics.sources.base import register
from analytics.sources.traffic import ZoneSource
from ioc.config.models import ALERT_METRICS


@register
class CrowdSource(ZoneSource):
    """Persons in camera zones."""

    type = "crowd"
    metrics = ALERT_METRICS["crowd"]
