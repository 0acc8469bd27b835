"""Typed site configuration, loaded from YAML and validated once at start (``ioc config validate``).

The names below are loaded on first use, so a module that needs only the building blocks (``ioc.config.base``)
or the channels' tables (``ioc.config.channels``) does not load the whole site config.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ioc.config.loader import (
        default_site_path as default_site_path,
    )
    from ioc.config.loader import (
        env_references as env_references,
    )
    from ioc.config.loader import (
        load_site as load_site,
    )
    from ioc.config.loader import (
        missing_secrets as missing_secrets,
    )
    from ioc.config.loader import (
        secret as secret,
    )
    from ioc.config.loader import (
        site_root as site_root,
    )
    from ioc.config.loader import (
        validate_site as validate_site,
    )
    from ioc.config.models import (
        Area as Area,
    )
    from ioc.config.models import (
        Camera as Camera,
    )
    from ioc.config.models import (
        FloodStation as FloodStation,
    )
    from ioc.config.models import (
        Kpi as Kpi,
    )
    from ioc.config.models import (
        SimulatedStation as SimulatedStation,
    )
    from ioc.config.models import (
        Simulation as Simulation,
    )
    from ioc.config.models import (
        SiteConfig as SiteConfig,
    )

_WHERE = {
    "default_site_path": "loader",
    "env_references": "loader",
    "load_site": "loader",
    "missing_secrets": "loader",
    "secret": "loader",
    "site_root": "loader",
    "validate_site": "loader",
    "Area": "models",
    "Camera": "models",
    "FloodStation": "models",
    "Kpi": "models",
    "SimulatedStation": "models",
    "Simulation": "models",
    "SiteConfig": "models",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """Load a re-exported name from its module on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ioc.config' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ioc.config.{module}"), name)
