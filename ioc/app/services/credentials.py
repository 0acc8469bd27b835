"""Generated passwords of the development services, kept in ``<cache>/services/credentials.json`` (mode 0600).

Made once on the first ``ioc services up`` and reused afterwards; the DSNs and URLs of :func:`ioc.app.services.manager.
endpoints` are built from them, so no password is written anywhere else. Station users are added when the site
gains a station; existing passwords never change.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ioc.errors import ServiceError

logger = logging.getLogger(__name__)

PG_SUPERUSER = "postgres"
PG_OWNER = "ioc_owner"
PG_APP = "ioc"
KAFKA_USER = "ioc"
FILE_NAME = "credentials.json"


def new_password() -> str:
    """A random password of 32 URL-safe characters (192 bits), safe in URLs and config files unquoted."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Credentials:
    """Passwords by service: PostgreSQL roles, Redis, MQTT users, Kafka's SASL/PLAIN user ``KAFKA_USER``."""

    postgres: dict[str, str] = field(default_factory=dict)
    redis: str = ""
    mqtt: dict[str, str] = field(default_factory=dict)
    kafka: str = ""

    def to_json(self) -> dict[str, object]:
        """The credentials as a JSON-ready dict."""
        return {
            "version": 1,
            "postgres": self.postgres,
            "redis": self.redis,
            "mqtt": self.mqtt,
            "kafka": self.kafka,
        }


def path_of(services_dir: Path) -> Path:
    """Where the credentials of the services under ``services_dir`` live."""
    return services_dir / FILE_NAME


def load(services_dir: Path) -> Credentials | None:
    """The stored credentials, or None before the first ``ioc services up``."""
    path = path_of(services_dir)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ServiceError(f"cannot read {path}: {exc}") from exc
    try:
        return Credentials(
            postgres={str(k): str(v) for k, v in raw["postgres"].items()},
            redis=str(raw["redis"]),
            mqtt={str(k): str(v) for k, v in raw["mqtt"].items()},
            # Files written before Kafka had SASL have no "kafka": ensure() adds a password.
            kafka=str(raw.get("kafka", "")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ServiceError(f"{path} is not a credentials file this version understands ({exc})") from exc


def ensure(services_dir: Path, mqtt_users: Iterable[str]) -> Credentials:
    """The stored credentials, a password for each role, Redis, MQTT user and Kafka; written 0600 if new."""
    current = load(services_dir) or Credentials()
    postgres = dict(current.postgres)
    for role in (PG_SUPERUSER, PG_OWNER, PG_APP):
        postgres.setdefault(role, new_password())
    mqtt = dict(current.mqtt)
    for user in mqtt_users:
        mqtt.setdefault(user, new_password())
    wanted = Credentials(
        postgres=postgres,
        redis=current.redis or new_password(),
        mqtt=mqtt,
        kafka=current.kafka or new_password(),
    )
    if wanted != current:
        write(services_dir, wanted)
    return wanted


def write(services_dir: Path, creds: Credentials) -> None:
    """Replace the credentials file atomically; the file is created 0600 and never exists with looser bits."""
    services_dir.mkdir(parents=True, exist_ok=True)
    path = path_of(services_dir)
    scratch = path.with_suffix(".tmp")
    scratch.unlink(missing_ok=True)
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(creds.to_json(), indent=2) + "\n")
    scratch.replace(path)
    logger.info("wrote the development services' credentials to %s (mode 0600)", path)


def write_private(path: Path, text: str) -> None:
    """Write a file that holds secrets with mode 0600, replacing any older copy."""
    scratch = path.with_name(path.name + ".tmp")
    scratch.unlink(missing_ok=True)
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    scratch.replace(path)
