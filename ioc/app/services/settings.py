"""Where the development services live, which loopback ports they use and which binaries run them.

Read from the process's frozen environment (``ioc.settings.Settings.env``) into a frozen :class:`Settings`;
nothing in the package reads an ``IOC_*`` variable from ``os.environ`` (only the operating system's ``PATH``
and the environment handed on to the services' child processes, each with its reason beside it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ioc.errors import ServiceError

# Directories that hold daemons on Debian but are often missing from a non-root PATH.
_SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


@dataclass(frozen=True)
class Settings:
    """Cache directory, ports, binaries, TimescaleDB source and site (its stations are the MQTT users)."""

    cache_dir: Path
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    postgres_port: int = 15432
    redis_port: int = 16379
    mqtt_port: int = 11883
    java_bin: str = "java"
    mvn_bin: str = "mvn"
    pg_bindir: Path = Path("/usr/lib/postgresql/15/bin")
    redis_server_bin: str = "redis-server"
    mosquitto_bin: str = "mosquitto"
    timescaledb_source: Path | None = None
    site: Path | None = None

    @property
    def services_dir(self) -> Path:
        """``<cache>/services``: one subdirectory per service plus ``state.json``."""
        return self.cache_dir / "services"

    @property
    def kafka_libs_dir(self) -> Path:
        """``<cache>/kafka/libs``: the broker's jars, resolved by Maven from the pinned pom."""
        return self.cache_dir / "kafka" / "libs"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read the settings from ``env`` (``ioc.settings.Settings.env``); unset variables keep the defaults."""
        cache = env.get("IOC_CACHE_DIR") or str(Path.home() / ".cache" / "ioc")
        defaults = cls(cache_dir=Path(cache))  # the dataclass fields are the one place defaults live
        return cls(
            cache_dir=Path(cache).expanduser().absolute(),
            kafka_port=_port(env, "IOC_KAFKA_PORT", defaults.kafka_port),
            kafka_controller_port=_port(env, "IOC_KAFKA_CONTROLLER_PORT", defaults.kafka_controller_port),
            postgres_port=_port(env, "IOC_POSTGRES_PORT", defaults.postgres_port),
            redis_port=_port(env, "IOC_REDIS_PORT", defaults.redis_port),
            mqtt_port=_port(env, "IOC_MQTT_PORT", defaults.mqtt_port),
            java_bin=env.get("IOC_JAVA_BIN") or defaults.java_bin,
            mvn_bin=env.get("IOC_MVN_BIN") or defaults.mvn_bin,
            pg_bindir=Path(env.get("IOC_PG_BINDIR") or defaults.pg_bindir),
            redis_server_bin=env.get("IOC_REDIS_SERVER_BIN") or defaults.redis_server_bin,
            mosquitto_bin=env.get("IOC_MOSQUITTO_BIN") or defaults.mosquitto_bin,
            timescaledb_source=Path(raw).expanduser() if (raw := env.get("IOC_TIMESCALEDB_SOURCE")) else None,
            site=Path(raw).expanduser() if (raw := env.get("IOC_SITE")) else None,
        )


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise ServiceError(f"{name}={raw!r} is not a port number; give a number 1-65535") from None
    if not 0 < port < 65536:
        raise ServiceError(f"{name}={port} is out of range; give a number 1-65535")
    return port


def find_binary(value: str) -> Path | None:
    """Locate an executable given as a path or as a bare name searched on PATH and the sbin directories."""
    if os.sep in value:
        path = Path(value)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    # PATH is the operating system's, not a setting: the binary is found where the services' child processes,
    # started with this process's environment, would find it.
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *_SBIN_DIRS])
    found = shutil.which(value, path=search)
    return Path(found) if found else None
