"""The process's settings: read once from the environment at start, frozen, and passed down.

``Settings.from_env(os.environ)`` is called by the entry point (``ioc.app.cli.main``) and by nothing else;
every part gets the object (or the piece it needs) as an argument, so no module reads ``os.environ`` after
start. The parts that own a group of settings parse it from ``Settings.env``, the frozen copy of the
environment taken at the same moment: the wall (``dashboards.settings.WallSettings``), the notify worker and
channels (``IOC_NOTIFY_*``, the providers' keys), the webhook (``IOC_WEBHOOK_SECRET``) and the development
services (ports and binaries).

Production endpoints (``Production``) are separate from the development services: when they are set, the app
never looks at ``ioc services``; each one left unset falls back to the local development service.
docs/CONFIGURATION.md lists every setting with its meaning and default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ioc.errors import ConfigError, ConfigIssue


def _invalid(name: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue("environment", None, name, message)])


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise _invalid(name, f"{name}={raw!r} is not valid: give a number between {low:g} and {high:g}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip()
    return default if not raw else raw not in ("0", "false", "no", "off")


def _port(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise _invalid(name, f"{name}={raw!r} is not a port number; give a number 1-65535")
    return int(raw)


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


@dataclass(frozen=True)
class Production:
    """The production endpoints from the environment; each ``None`` falls back to the local development
    service."""

    kafka_bootstrap: str | None = None
    kafka_username: str | None = None
    kafka_password: str | None = field(default=None, repr=False)
    kafka_sasl_mechanism: str = "PLAIN"
    database_url: str | None = field(default=None, repr=False)
    database_owner_url: str | None = field(default=None, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    mqtt_host: str | None = None
    mqtt_port: int | None = None
    mqtt_username: str | None = None
    mqtt_password: str | None = field(default=None, repr=False)
    mqtt_tls: bool = False
    mqtt_ca_file: str | None = None
    mqtt_cert_file: str | None = None
    mqtt_key_file: str | None = None
    mqtt_tls_verify: bool = True

    @property
    def complete(self) -> bool:
        """Whether every endpoint is given, so the development services are never consulted."""
        return None not in (
            self.kafka_bootstrap,
            self.database_url,
            self.redis_url,
            self.mqtt_host,
            self.mqtt_port,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Production:
        """Read ``IOC_KAFKA_*``, ``IOC_DATABASE_*``, ``IOC_REDIS_URL`` and ``IOC_MQTT_*`` (empty counts as
        unset)."""

        def get(name: str) -> str | None:
            return env.get(name) or None

        username, password = get("IOC_KAFKA_USERNAME"), get("IOC_KAFKA_PASSWORD")
        if bool(username) != bool(password):
            raise _invalid(
                "IOC_KAFKA_PASSWORD", "set both IOC_KAFKA_USERNAME and IOC_KAFKA_PASSWORD, or neither"
            )
        return cls(
            kafka_bootstrap=get("IOC_KAFKA_BOOTSTRAP"),
            kafka_username=username,
            kafka_password=password,
            kafka_sasl_mechanism=get("IOC_KAFKA_SASL_MECHANISM") or "PLAIN",
            database_url=get("IOC_DATABASE_URL"),
            database_owner_url=get("IOC_DATABASE_OWNER_URL"),
            redis_url=get("IOC_REDIS_URL"),
            mqtt_host=get("IOC_MQTT_HOST"),
            mqtt_port=_port(env, "IOC_MQTT_PORT"),
            mqtt_username=get("IOC_MQTT_USERNAME"),
            mqtt_password=get("IOC_MQTT_PASSWORD"),
            mqtt_tls=_flag(env, "IOC_MQTT_TLS", False),
            mqtt_ca_file=get("IOC_MQTT_CA_FILE"),
            mqtt_cert_file=get("IOC_MQTT_CERT_FILE"),
            mqtt_key_file=get("IOC_MQTT_KEY_FILE"),
            mqtt_tls_verify=_flag(env, "IOC_MQTT_TLS_VERIFY", True),
        )


@dataclass(frozen=True)
class Settings:
    """Everything the process takes from its environment, read once at start (docs/CONFIGURATION.md)."""

    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    lang: str = "vi"
    site: Path | None = None
    log_level: str | None = None
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "ioc")
    kafka_namespace: str = ""
    production: Production = field(default_factory=Production)
    tick_interval_s: float = 5.0
    maintenance_interval_s: float = 30.0
    secret_key: str | None = field(default=None, repr=False)
    demo_password: str | None = field(default=None, repr=False)
    demo_cameras: bool = True
    sim_seconds: float = 300.0
    sim_loop: bool = True
    models_mirror: Path | None = None
    pip_index_url: str | None = None

    @property
    def snapshot_dir(self) -> Path:
        """Where the camera workers keep snapshots and the wall serves them from."""
        return self.cache_dir / "snapshots"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read the settings from ``env`` (the entry point passes ``os.environ``); a bad value is a
        ConfigError."""
        frozen = MappingProxyType(dict(env))
        lang = (env.get("IOC_LANG") or "vi").strip().lower()
        return cls(
            env=frozen,
            lang=lang if lang in ("vi", "en") else "vi",
            site=_path(env, "IOC_SITE"),
            log_level=(env.get("IOC_LOG_LEVEL") or "").strip().upper() or None,
            cache_dir=(_path(env, "IOC_CACHE_DIR") or Path.home() / ".cache" / "ioc").absolute(),
            kafka_namespace=env.get("IOC_KAFKA_NAMESPACE", "").strip(),
            production=Production.from_env(env),
            tick_interval_s=_float(env, "IOC_TICK_INTERVAL_S", 5.0, 0.1, 3600),
            maintenance_interval_s=_float(env, "IOC_MAINTENANCE_INTERVAL_S", 30.0, 0.1, 3600),
            secret_key=env.get("IOC_SECRET_KEY") or None,
            demo_password=env.get("IOC_DEMO_PASSWORD") or None,
            demo_cameras=_flag(env, "IOC_DEMO_CAMERAS", True),
            sim_seconds=_float(env, "IOC_SIM_SECONDS", 300.0, 1, 86_400),
            sim_loop=_flag(env, "IOC_SIM_LOOP", True),
            models_mirror=_path(env, "IOC_MODELS_MIRROR"),
            pip_index_url=env.get("PIP_INDEX_URL", "").strip() or None,
        )
