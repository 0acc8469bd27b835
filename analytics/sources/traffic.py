"""Traffic in camera zones: vehicles counted in a zone, how long the longest stays, congestion.

Config table: ``cameras[].zones`` (``ioc.config.models.CameraZone``, in the core config: the camera workers read
it). A ``ZoneOccupancy`` event gives observations ``zone`` of subject ``<camera>/<zone>``
(``analytics.traffic.zone_observations``); a parked vehicle is a ``dwell_s`` rule held while it stays. The crowd
source reads the same observations: ``ZoneStage`` and the ``ZoneSource`` base serve both.
"""

from __future__ import annotations

from pydantic import BaseModel

from analytics.sources.base import AlertSource, Outcome, Stage, locate, register
from analytics.traffic import ZONE, zone_observations
from ioc.config.models import ALERT_METRICS, CameraZone, SiteConfig
from ioc.events import ZoneOccupancy
from ioc.geo import AreaIndex


class ZoneStage(Stage[ZoneOccupancy]):
    """Zone occupancy events as observations; nothing held (every 'held for' is a rule's ``for_s``)."""

    events = (ZoneOccupancy,)

    def handle(self, event: ZoneOccupancy) -> Outcome:
        """Return what one zone occupancy event says: count, density, dwell and congestion."""
        return Outcome(observations=zone_observations(event))


def zone_subjects(site: SiteConfig) -> list[tuple[str, BaseModel]]:
    """Return every camera zone as ``<camera>/<zone>`` with its config."""
    return [(f"{c.id}/{z.id}", z) for c in site.cameras for z in c.zones]


def zone_details(
    site: SiteConfig, subject: str, areas: AreaIndex | None
) -> tuple[str | None, dict[str, str | float | int]]:
    """Return the commune of a zone's camera and the camera's and zone's names."""
    camera_id, _, zone_id = subject.partition("/")
    cam = site.camera(camera_id)
    params: dict[str, str | float | int] = {"camera": cam.name, "name": cam.name}
    zone = next((z for z in cam.zones if z.id == zone_id), None)
    if zone is not None:
        params.update(zone=zone.name or zone.id, name=f"{cam.name} - {zone.name or zone.id}")
    return locate(areas, cam.lon, cam.lat, cam.area_code), params


class ZoneSource(AlertSource):
    """A source about camera zones (traffic here, crowd beside it): its subjects, their details and the cameras
    a runtime ticks; a base, registered by its subclasses."""

    observes = ZONE
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


@register
class TrafficSource(ZoneSource):
    """Vehicles in camera zones."""

    type = "traffic"
    metrics = ALERT_METRICS["traffic"]
