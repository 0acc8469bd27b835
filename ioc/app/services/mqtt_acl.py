"""Mosquitto users and ACLs from a site's ``stations.yaml``: the ingest reads everything, a station writes only its own.

Pure text building (no I/O): :func:`acl_text` and :func:`passwd_text` give the files Mosquitto's ``acl_file`` and
``password_file`` read. Used by the development broker (``ioc services up``) and by ``ioc services mqtt-acl`` for a
deployment (``deploy/mosquitto``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence

from ingest.flood import FloodTopics
from ioc.errors import ServiceError

logger = logging.getLogger(__name__)

INGEST_USER = "ioc-ingest"
CHIRPSTACK_USER = "chirpstack"
# Development only: the tests, `ioc demo` simulators and benches publish as any station from one client.
DEV_USER = "ioc-dev"
# Mosquitto 2's mosquitto_passwd: PBKDF2-SHA512, 101 iterations, 12-byte salt, written as $7$<iter>$<salt>$<hash>.
_PBKDF2_ITERATIONS = 101


def users(station_ids: Iterable[str], *, dev: bool) -> list[str]:
    """Every MQTT user of a site: the ingest, ChirpStack, one per station (its id), and in development ``ioc-dev``."""
    fixed = [INGEST_USER, CHIRPSTACK_USER, *([DEV_USER] if dev else [])]
    return [*fixed, *sorted(set(station_ids))]


def acl_text(topics: FloodTopics, station_ids: Sequence[str], *, dev: bool) -> str:
    """Mosquitto's acl_file: ingest reads all, ChirpStack writes its uplinks, each station writes its own topic."""
    lines = [
        f"# Generated from the site {topics.site_id!r} by `ioc services mqtt-acl`; do not edit by hand.",
        "# No anonymous clients (allow_anonymous false); a user not listed here may do nothing.",
        "",
        f"user {INGEST_USER}",
        "topic read #",
        "",
        f"user {CHIRPSTACK_USER}",
        "topic readwrite application/#",
        "",
    ]
    if dev:
        lines += [
            "# Development broker only: tests and simulators publish as any station.",
            f"user {DEV_USER}",
            "topic readwrite #",
            "",
        ]
    for station in sorted(set(station_ids)):
        lines += [f"user {station}", f"topic write {topics.for_station(station)}", ""]
    return "\n".join(lines)


def password_hash(password: str, salt: bytes | None = None) -> str:
    """A password entry as ``mosquitto_passwd`` writes it (``$7$`` PBKDF2-SHA512)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ITERATIONS)
    return f"$7${_PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def passwd_text(passwords: Mapping[str, str]) -> str:
    """Mosquitto's password_file for ``passwords`` (user to plain password); only hashes are written."""
    for user in passwords:
        if not user or ":" in user or any(c.isspace() for c in user):
            raise ServiceError(f"MQTT user {user!r} cannot be written to a password file (':' or whitespace)")
    return "".join(f"{user}:{password_hash(pw)}\n" for user, pw in sorted(passwords.items()))
