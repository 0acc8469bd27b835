"""Camera health and analysis: a stream offline, frozen or black, objects seen, frames analysed per interval.

Config table: ``cameras`` (``ioc.config.models.Camera``, in the core config: the camera workers read it). A
``CameraHealth`` or ``DetectionSummary`` event gives observations ``camera`` of subject ``<camera>``
(``analytics.traffic.health_observations``, ``detection_observations``); "offline for longer than N minutes" is
a rule's ``for_s``.
"""

from __future__ import annotations

from pydantic import BaseModel

from analytics.sources.base import AlertSource, Outcome, Stage, locate, register
from analytics.traffic import CAMERA, detection_observations, health_observations
from ioc.config.models import ALERT_METRICS, Camera, SiteConfig
from ioc.events import CameraHealth, DetectionSummary
from ioc.geo import AreaIndex


class HealthStage(Stage[CameraHealth]):
    """Camera health as an observation; nothing held."""

    events = (CameraHealth,)

    def handle(self, event: CameraHealth) -> Outcome:
        """Return a camera's status change."""
        return Outcome(observations=health_observations(event))


class DetectionStage(Stage[DetectionSummary]):
    """Detection summaries as observations; nothing held."""

    events = (DetectionSummary,)

    def handle(self, event: DetectionSummary) -> Outcome:
        """Return the totals of one detection interval."""
        return Outcome(observations=detection_observations(event))


@register
class CameraSource(AlertSource):
    """Fixed cameras of ``cameras``."""

    type = "camera"
    observes = CAMERA
    metrics = ALERT_METRICS["camera"]
    stages = (HealthStage, DetectionStage)
    config = Camera
    section = "cameras"
    subject_kind = "camera"

    @classmethod
    def subjects(cls, site: SiteConfig, metric: str) -> list[tuple[str, BaseModel]]:
        """Return every camera."""
        return [(c.id, c) for c in site.cameras]

    @classmethod
    def details(
        cls, site: SiteConfig, subject: str, metric: str, areas: AreaIndex | None
    ) -> tuple[str | None, dict[str, str | float | int]]:
        """Return the camera's commune and name."""
        cam = site.camera(subject)
        return locate(areas, cam.lon, cam.lat, cam.area_code), {"camera": cam.name, "name": cam.name}

    @classmethod
    def tick_subjects(cls, site: SiteConfig) -> tuple[str, ...]:
        """Return every camera: a dead one sends nothing to be noticed by."""
        return tuple(c.id for c in site.cameras)
