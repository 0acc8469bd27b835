"""The alert processor: the single entry both runtimes call, once per event and once per tick.

It routes each event to the stages of the registered alert sources (``analytics.sources``) by the event's type,
feeds the observations they return to the rule engine (``analytics.rules``), and returns the alert transitions of
both: the ones a stage decides itself (flood alarm levels, the built-in KPI checks) and the rules'. It names no
source: a new source is picked up from the registry.

The engine's names (``AlertEngine``, ``AlertRule``, ``Observation``) and ``AlertSetup`` are re-exported here for
the callers that have always imported them from this module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from analytics.rules import RESOLVED_KEY, STATE_VERSION, AlertEngine, AlertRule, Observation
from analytics.setup import AlertSetup
from analytics.sources import Stage, stages
from ioc.events import AlertEvent, Event, Severity

logger = logging.getLogger(__name__)

__all__ = [
    "RESOLVED_KEY",
    "AlertEngine",
    "AlertEvent",
    "AlertProcessor",
    "AlertRule",
    "AlertSetup",
    "Observation",
]


class AlertProcessor:
    """One call per event and per tick: every source's stage, then the rule engine on what they observed.

    ``handle(event)`` and ``tick(now)`` return alert events; ``state()`` is a JSON-ready dict and
    ``AlertProcessor.from_state(setup, state)`` restores it, in the Faust agent or the embedded runtime alike. Its
    keys: ``v``, ``engine`` (the rules' alerts) and each stage's own (``levels``, ``windows``, ``kpi_history``...).
    """

    def __init__(self, setup: AlertSetup, state: Mapping[str, Any] | None = None) -> None:
        state = state or {}
        self.setup = setup
        self._stages: list[Stage[Any]] = [stage(setup, state) for stage in stages()]
        # By exact event type: what a stage lists in ``events`` is all it is given.
        self._routes: dict[type[Event], list[Stage[Any]]] = {}
        for st in self._stages:
            for kind in st.events:
                self._routes.setdefault(kind, []).append(st)
        self._engine = AlertEngine(setup.rules, state.get("engine"))

    @classmethod
    def from_state(cls, setup: AlertSetup, state: Mapping[str, Any] | None) -> AlertProcessor:
        """Rebuild a processor from what ``state()`` returned (``None``: a fresh start)."""
        return cls(setup, state)

    def handle(self, event: Event) -> list[AlertEvent]:
        """Process one event from the bus; events no source reads give nothing."""
        out: list[AlertEvent] = []
        for st in self._routes.get(type(event), []):
            outcome = st.handle(event)
            out += outcome.alerts
            for obs in outcome.observations:
                out += self._engine.observe(obs)
        return out

    def tick(self, now: datetime, units: Iterable[str] | None = None) -> list[AlertEvent]:
        """Raise what time alone decides: silent stations, held or clear long enough, missing KPI reports.

        ``units`` limits the missing-report check to some reporting units (a Faust worker ticks one unit's state
        at a time; ``[]`` for a station's or camera's); ``None`` checks every reporting unit.
        """
        ticked = None if units is None else list(units)
        outcomes = [st.tick(now, ticked) for st in self._stages]
        out: list[AlertEvent] = []
        for outcome in outcomes:
            for obs in outcome.observations:
                out += self._engine.observe(obs)
        out += self._engine.tick(now)
        for outcome in outcomes:
            out += outcome.alerts
        return out

    def state(self) -> dict[str, Any]:
        """Return the whole state as plain JSON values."""
        state: dict[str, Any] = {"v": STATE_VERSION}
        for st in self._stages:
            state.update(st.state())
        state["engine"] = self._engine.to_dict()
        return state

    def active(self) -> dict[str, Severity]:
        """Return the open rule alerts' keys and severities (not the alerts a stage decides, like flood levels)."""
        return self._engine.active()
