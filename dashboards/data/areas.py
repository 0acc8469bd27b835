"""The site's areas as the wall names and draws them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ioc.config.models import SiteConfig
from ioc.geo import AreaIndex


@dataclass(frozen=True)
class AreaNames:
    """Area code -> name, in Vietnamese and in English (the Vietnamese name when there is no English one)."""

    vi: Mapping[str, str]
    en: Mapping[str, str]

    @classmethod
    def from_site(cls, site: SiteConfig) -> AreaNames:
        """Take the names of a site's areas."""
        return cls({a.code: a.name for a in site.areas}, {a.code: a.name_en or a.name for a in site.areas})

    def name(self, code: str | None, lang: str) -> str | None:
        """Return an area's name in ``lang``; None without a code or for an unknown one."""
        if not code:
            return None
        return (self.en if lang == "en" else self.vi).get(code)


def boundary_features(site: SiteConfig, site_dir: Path | None) -> list[dict[str, Any]]:
    """Return simplified GeoJSON outlines of the site's areas (province, former districts, communes).

    Without a site directory there is nothing to read and the map shows only the stations and cameras.
    """
    if site_dir is None:
        return []
    return AreaIndex.from_site(site, site_dir).geojson_features()
