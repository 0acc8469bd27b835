"""The simulator's errors, under the project's one base class (candidates to move into ``ioc.errors``)."""

from __future__ import annotations

from ioc.errors import IocError


class SimulatorError(IocError):
    """A simulated clip or stream could not be produced, or a truth file cannot be read."""
