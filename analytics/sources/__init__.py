"""The alert sources, one module each, found through the registry ``SOURCES`` (alert source type -> class).

Importing this package imports every module in it, and each registers its source with
``analytics.sources.base.register``: adding a source is one new module here plus its config, nothing else. The
modules are imported in name order; ``base`` holds the protocol and the registry and registers nothing.
"""

from __future__ import annotations

import importlib
import pkgutil

from analytics.sources.base import SOURCES, AlertSource, Outcome, Stage, register, stages

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "base":
        importlib.import_module(f"{__name__}.{_module}")

__all__ = ["SOURCES", "AlertSource", "Outcome", "Stage", "register", "stages"]
