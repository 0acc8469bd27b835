"""Every topic of the platform, in one place: name, event type, partitions.

Both runtimes use this list: the Faust app declares these Kafka topics, the embedded bus uses the same names.
"""

from __future__ import annotations

from dataclasses import dataclass

from ioc import events as ev


@dataclass(frozen=True)
class Topic:
    """A named stream of one event type, partitioned by the event's ``key()``."""

    name: str
    event_type: type[ev.Event]
    partitions: int
    doc: str

    def kafka_name(self, namespace: str = "") -> str:
        """Return the Kafka topic name, prefixed by ``namespace`` when given (``Settings.kafka_namespace``)."""
        return f"{namespace}.{self.name}" if namespace else self.name


SENSOR_READINGS = Topic("ioc.sensor.readings", ev.SensorReading, 4, "validated sensor readings, keyed by station")
CAMERA_DETECTIONS = Topic("ioc.camera.detections", ev.DetectionSummary, 4, "per-interval detections, by camera")
CAMERA_CROSSINGS = Topic("ioc.camera.crossings", ev.LineCrossing, 4, "line crossings, by camera")
CAMERA_OCCUPANCY = Topic("ioc.camera.occupancy", ev.ZoneOccupancy, 4, "zone occupancy, by camera")
CAMERA_HEALTH = Topic("ioc.camera.health", ev.CameraHealth, 2, "camera stream health, by camera")
KPI_VALUES = Topic("ioc.kpi.values", ev.KpiValue, 2, "KPI values, by administrative unit")
ALERTS = Topic("ioc.alerts", ev.AlertEvent, 4, "alert transitions, by alert key")
NOTIFICATIONS = Topic("ioc.notifications", ev.Notification, 2, "notification attempts, by recipient")
FEED_ITEMS = Topic("ioc.signals.items", ev.FeedItem, 1, "new items of news and official feeds, by site")
REPORTS = Topic("ioc.reports", ev.ReportStatus, 2, "citizens' reports after each step, by commune")
DEAD_LETTERS = Topic("ioc.deadletter", ev.DeadLetter, 1, "rejected input with its reason and source")

ALL: tuple[Topic, ...] = (
    SENSOR_READINGS, CAMERA_DETECTIONS, CAMERA_CROSSINGS, CAMERA_OCCUPANCY, CAMERA_HEALTH, KPI_VALUES, ALERTS,
    NOTIFICATIONS, FEED_ITEMS, REPORTS, DEAD_LETTERS,
)
BY_NAME: dict[str, Topic] = {t.name: t for t in ALL}
# Topics the database writer consumes, in both runtimes.
STORED: tuple[Topic, ...] = (
    SENSOR_READINGS, ALERTS, DEAD_LETTERS, CAMERA_DETECTIONS, CAMERA_CROSSINGS, CAMERA_OCCUPANCY, CAMERA_HEALTH,
    KPI_VALUES, FEED_ITEMS,
)


def for_event(event: ev.Event) -> Topic:
    """Return the topic an event belongs on."""
    for topic in ALL:
        if isinstance(event, topic.event_type):
            return topic
    raise KeyError(f"no topic for event type {type(event).__name__}")
