"""What an alert source is, and the registry that maps its type to its class.

An alert source is one room: a module under ``analytics/sources/`` holding one ``AlertSource`` subclass that declares

- ``type``: its name in alert keys (``<type>:<subject>:<rule>``), in ``alerts.yaml`` (``source: flood``) and in the
  site config (``sources.<type>`` for a source with its own section);
- ``observes`` and ``metrics``: the observations its rules read and the metrics they can watch;
- ``stages``: how its events become observations (and, for flood levels or KPI checks, alerts it decides itself);
- ``subjects`` and ``details``: what its rules watch and the names and units its messages show;
- ``config`` and ``section``: its config table, the pydantic model of its part of the site config. A source whose
  table lives in the core config (flood stations, cameras, KPIs: ingest and the wall read them too) names that
  section; a new source keeps its own section under ``sources.<type>``, registered with ``ioc.config.sections`` so
  the loader validates it with file and line errors;
- ``builtin_rules``: rules it binds from its own section, without any ``alerts.yaml`` entry.

It registers itself with ``@register``; ``analytics.sources`` imports every module of the package, so adding a
source is one new module plus its config. The rule engine (``analytics.rules``), the processor
(``analytics.alerts``) and the binding (``analytics.binding``) only iterate the registry.
"""

from __future__ import annotations

import builtins
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from analytics.rules import AlertRule, Observation
from analytics.setup import AlertSetup
from ioc.config import sections
from ioc.config.models import KeyPath, SiteConfig
from ioc.events import AlertEvent, Event
from ioc.geo import AreaIndex

logger = logging.getLogger(__name__)

# The processor's state as stored by either runtime: plain JSON values.
State = Mapping[str, Any]


@dataclass
class Outcome:
    """What a stage makes of one event or one tick: alerts it decides itself, observations for the rule engine."""

    alerts: list[AlertEvent] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)


E = TypeVar("E", bound=Event)


class Stage(ABC, Generic[E]):
    """Turns the events of ``events`` (of type ``E``) into an ``Outcome``; may hold state (plain JSON values).

    The processor routes an event to the stages that list its exact type in ``events``, so ``handle`` gets only
    those and needs no ``isinstance``.

    ``state()`` returns top-level keys of the processor's state that this stage owns (``levels``, ``windows`` for
    flood; ``kpi_history``, ``kpi_missing`` for KPIs); the constructor reads the same keys back. Two stages never
    share a key.
    """

    events: ClassVar[tuple[type[Event], ...]] = ()

    def __init__(self, setup: AlertSetup, state: State) -> None:
        self.setup = setup

    @abstractmethod
    def handle(self, event: E) -> Outcome:
        """Return what one event of ``events`` gives."""

    def tick(self, now: datetime, units: Sequence[str] | None) -> Outcome:
        """Return what time alone gives at ``now`` (``units``: the reporting units ticked, None for all)."""
        return Outcome()

    def state(self) -> dict[str, Any]:
        """Return this stage's part of the processor's state."""
        return {}


class AlertSource(ABC):
    """One kind of thing alerts are raised about; see the module docstring for what each declaration means."""

    type: ClassVar[str]
    observes: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]] = ()
    # ``builtins.type``: inside this class, ``type`` is the source's name
    stages: ClassVar[tuple[builtins.type[Stage[Any]], ...]] = ()
    config: ClassVar[builtins.type[BaseModel] | None] = None
    section: ClassVar[str] = ""  # e.g. "flood_stations", or "sources.rain_gauge" for its own section
    subject_kind: ClassVar[str | None] = None  # partition-key kind a runtime ticks its subjects by
    wildcard_rules: ClassVar[bool] = False  # a rule without subjects binds once to "*" (KPIs), not per subject

    @classmethod
    @abstractmethod
    def subjects(cls, site: SiteConfig, metric: str) -> list[tuple[str, BaseModel]]:
        """Return the subjects a rule on ``metric`` can watch, each with the config its threshold references read."""

    @classmethod
    @abstractmethod
    def details(
        cls, site: SiteConfig, subject: str, metric: str, areas: AreaIndex | None
    ) -> tuple[str | None, dict[str, str | float | int]]:
        """Return the area a subject lies in and the names (and units) the messages of a rule on ``metric`` show."""

    @classmethod
    def builtin_rules(cls, site: SiteConfig, areas: AreaIndex | None) -> list[AlertRule]:
        """Return the rules this source binds from its own config section (none by default)."""
        return []

    @classmethod
    def tick_subjects(cls, site: SiteConfig) -> tuple[str, ...]:
        """Return the ids a runtime ticks for this source's time-driven alerts (keys of kind ``subject_kind``)."""
        return ()

    @classmethod
    def sensor_stations(cls, site: SiteConfig) -> dict[str, dict[str, tuple[float, float]]]:
        """Return the stations whose readings this source adds to ingest: id -> metric -> valid (min, max)."""
        return {}

    @classmethod
    def configure(cls, setup: AlertSetup, site: SiteConfig) -> AlertSetup:
        """Return the setup with this source's settings filled in (its stage reads them)."""
        return setup

    @classmethod
    def check(cls, site: SiteConfig, config: BaseModel) -> list[tuple[KeyPath, str]]:
        """Return the problems of this source's own section against the rest of the site (paths from the root)."""
        return []


_S = TypeVar("_S", bound=type[AlertSource])
SOURCES: dict[str, type[AlertSource]] = {}


def register(source: _S) -> _S:
    """Register an alert source class under its ``type``; its own config section, if any, with the loader."""
    if source.type in SOURCES and SOURCES[source.type] is not source:
        raise ValueError(f"alert source {source.type!r} is registered twice: {SOURCES[source.type]} and {source}")
    SOURCES[source.type] = source
    prefix = "sources."
    if source.config is not None and source.section.startswith(prefix):
        sections.register(
            sections.SourceSection(name=source.section.removeprefix(prefix), model=source.config, check=source.check)
        )
    return source


def stages() -> list[type[Stage[Any]]]:
    """Return every stage of the registered sources once, in registration order (traffic and crowd share one)."""
    out: list[type[Stage[Any]]] = []
    for source in SOURCES.values():
        out += [stage for stage in source.stages if stage not in out]
    return out


def locate(areas: AreaIndex | None, lon: float, lat: float, declared: str) -> str:
    """Return the most specific area holding the point; the declared area when the map has none."""
    found = areas.locate(lon, lat) if areas is not None else []
    if found and found[0] != declared:
        logger.warning(
            "point %.5f, %.5f is declared in area %s but lies in %s; using %s", lon, lat, declared, found[0], found[0]
        )
    return found[0] if found else declared
