"""The project's exception tree, rooted at one base class.

Adapters translate their library's errors into these (``raise SinkUnavailable(...) from exc``) so the core and the
entry points never see a vendor exception.
"""

from __future__ import annotations

from dataclasses import dataclass


class IocError(Exception):
    """Base of every error this project raises on purpose."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file: where it is and what to do about it."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}"


class ConfigError(IocError):
    """A config file is missing, unreadable or invalid; carries every issue found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class InvalidInput(IocError):
    """Input from outside (a sensor message, a CSV row, a video frame) that cannot be accepted.

    ``reason`` is a short machine-friendly code (``malformed_json``, ``unknown_station`` ...) and ``detail`` the human
    explanation; both travel to the dead-letter table.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class SinkUnavailable(IocError):
    """A store or broker cannot be reached right now; retry later, the data is still good."""


class BadRecord(IocError):
    """A record the store refused for its content (constraint, type); retrying it will not help."""


class ServiceError(IocError):
    """A development service (Kafka, PostgreSQL, Redis, Mosquitto) could not be installed, started or reached."""


class MigrationError(IocError):
    """A schema migration failed or the database is at an unknown version."""


class MaintenanceError(IocError):
    """A maintenance step (a rollup refresh, a policy run in the foreground) failed inside the database."""


class CalendarError(IocError):
    """A working-day calculation reached a year the working calendar does not declare.

    Counting such a year as weekends-only would quietly give wrong deadlines around Tết; the fix is to add the
    year's days off to the site's ``calendar.yaml``.
    """
