"""Typed site configuration, loaded from YAML and validated once at start (``ioc config validate``)."""

from __future__ import annotations

from ioc.config.loader import (
    default_site_path,
    env_references,
    load_site,
    missing_secrets,
    secret,
    site_root,
    validate_site,
)
from ioc.config.models import (
    Area,
    Camera,
    FloodStation,
    Kpi,
    SimulatedStation,
    Simulation,
    SiteConfig,
)

__all__ = [
    "Area",
    "Camera",
    "FloodStation",
    "Kpi",
    "SimulatedStation",
    "Simulation",
    "SiteConfig",
    "default_site_path",
    "env_references",
    "load_site",
    "missing_secrets",
    "secret",
    "site_root",
    "validate_site",
]
