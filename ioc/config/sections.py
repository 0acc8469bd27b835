"""The site config's extension point: sections owned by a part of the system that the core does not import.

An alert source (``analytics.sources``) may keep its own part of the site config under ``sources.<type>``, e.g.
``sources: {rain_gauge: {stations: [...]}}``. The core cannot import that source's model (the arrows go from
analytics to the core, never back), so the source registers it here when its module is imported; the loader then
validates each registered section with its model, and reports its errors at the file and line like any other.

A section whose type is not registered is kept as plain data while nothing is registered (a core-only use of the
config, such as a test of the loader, needs no analytics); once any section is registered, an unknown type is an
error with a suggestion (``ioc config validate`` run by the app, which imports every source).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from ioc.config.models import KeyPath, SiteConfig

# Problems a section finds against the rest of the site (an area code not declared, an id taken): each with its
# path from the root of the site config, e.g. ("sources", "rain_gauge", "stations", 0, "area_code").
SiteCheck = Callable[[SiteConfig, BaseModel], list[tuple[KeyPath, str]]]


@dataclass(frozen=True)
class SourceSection:
    """One registered section: the key under ``sources``, the model that validates it, its checks against the site."""

    name: str
    model: type[BaseModel]
    check: SiteCheck | None = None


_SECTIONS: dict[str, SourceSection] = {}


def register(section: SourceSection) -> None:
    """Register a section's model; registering the same name again replaces it (a module reloaded in a test)."""
    _SECTIONS[section.name] = section


def registered() -> Mapping[str, SourceSection]:
    """Return the registered sections by name."""
    return dict(_SECTIONS)
