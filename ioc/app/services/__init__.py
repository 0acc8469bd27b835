"""Development services (Kafka, PostgreSQL, Redis, Mosquitto) on loopback: ``ioc services up|down|status``."""

from ioc.app.services.manager import Endpoints, ServiceStatus, down, endpoints, status, up
from ioc.app.services.settings import Settings

__all__ = ["Endpoints", "ServiceStatus", "Settings", "down", "endpoints", "status", "up"]
