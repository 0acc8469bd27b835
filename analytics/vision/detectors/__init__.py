"""Detector backends by name: the registry that turns a camera's ``DetectorConfig`` into a ``Detector``.

Each backend's module is imported only when it is built, so a backend whose optional dependency is missing
(``ultralytics`` pulls torch) never breaks importing this registry; ``unavailable()`` lists such backends and
why, and ``build_detector`` refuses them with the command that installs what they need.

=============  =======================================================================================
name           what it is
=============  =======================================================================================
onnx           a YOLO model in ONNX on onnxruntime (YOLOX-Nano by default, ``ioc models prepare``)
ultralytics    the ultralytics package with a ``.pt`` or ``.onnx`` model (optional extra ``ioc[ultralytics]``)
motion         background subtraction, no model; every box has class ``"motion"``
groundtruth    the camera simulator's own object positions, for tests and demos (needs ``truth_path``);
               registered by ``camera_sim.detector`` when imported (analytics never imports the simulator)
=============  =======================================================================================
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from analytics.vision.types import Detector
from ioc.config.models import DetectorConfig
from ioc.errors import InvalidInput, ServiceError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildContext:
    """What a backend needs beyond its config: where relative paths start, the simulator's truth, threads, and
    the cache folder holding the default model (``Settings.cache_dir``)."""

    base_dir: Path | None = None
    truth_path: Path | None = None
    threads: int = 1
    model_cache: Path | None = None

    def model_file(self, config: DetectorConfig) -> Path:
        """Return the config's model path, resolved against the site directory when relative."""
        if not config.model_path:
            if config.name == "onnx":
                # No path: the default model `ioc models prepare` put into the cache (YOLOX-Nano).
                from ioc.models import DEFAULT_MODEL, model_path

                if self.model_cache is None:
                    raise InvalidInput("detector_config", "the onnx detector without model_path needs the cache folder")
                return model_path(DEFAULT_MODEL, self.model_cache)
            raise InvalidInput("detector_config", f"the {config.name} detector needs model_path")
        path = Path(config.model_path).expanduser()
        return path if path.is_absolute() or self.base_dir is None else self.base_dir / path


Factory = Callable[[DetectorConfig, BuildContext], Detector]


@dataclass(frozen=True)
class Backend:
    """One detector backend: how to build it and which optional packages it needs."""

    name: str
    build: Factory
    requires: tuple[str, ...] = ()
    install: str = ""

    def missing(self) -> list[str]:
        """Return the required packages that are not installed."""
        return [module for module in self.requires if importlib.util.find_spec(module) is None]


def _onnx(config: DetectorConfig, ctx: BuildContext) -> Detector:
    from analytics.vision.detectors.onnx import OnnxDetector

    return OnnxDetector(ctx.model_file(config), config.confidence, config.classes, threads=ctx.threads)


def _ultralytics(config: DetectorConfig, ctx: BuildContext) -> Detector:
    from analytics.vision.detectors.ultralytics import UltralyticsDetector

    return UltralyticsDetector(ctx.model_file(config), config.confidence, config.classes)


def _motion(config: DetectorConfig, ctx: BuildContext) -> Detector:
    from analytics.vision.detectors.motion import MotionDetector

    return MotionDetector()


BACKENDS: dict[str, Backend] = {
    backend.name: backend
    for backend in (
        Backend("onnx", _onnx),
        Backend(
            "ultralytics", _ultralytics, requires=("ultralytics",), install="pip install 'ioc[ultralytics]'"
        ),
        Backend("motion", _motion),
    )
}


def register_backend(backend: Backend) -> None:
    """Add a backend from outside analytics (the camera simulator's ``groundtruth``); the same name replaces."""
    BACKENDS[backend.name] = backend


# Backends that run a model on an image, and so gain from looking at regions at native resolution.
MODEL_BACKENDS = frozenset({"onnx", "ultralytics"})


def unavailable() -> dict[str, str]:
    """Return the backends that cannot be built here, each with what to install."""
    out = {}
    for name, backend in BACKENDS.items():
        missing = backend.missing()
        if missing:
            out[name] = f"needs {', '.join(missing)}: {backend.install}"
    return out


def build_detector(
    config: DetectorConfig,
    *,
    truth_path: Path | None = None,
    base_dir: Path | None = None,
    threads: int = 1,
    model_cache: Path | None = None,
) -> Detector:
    """Build the detector a camera's config names; ``threads`` caps the CPU threads of model backends and
    ``model_cache`` (``Settings.cache_dir``) holds the default model."""
    backend = BACKENDS.get(config.name)
    if backend is None:
        raise InvalidInput(
            "unknown_detector",
            f"no detector named {config.name!r}; choose one of {', '.join(sorted(BACKENDS))}",
        )
    missing = backend.missing()
    if missing:
        raise ServiceError(
            f"the {config.name} detector needs {', '.join(missing)}, which is not installed; "
            f"{backend.install}"
        )
    context = BuildContext(
        base_dir=base_dir, truth_path=Path(truth_path) if truth_path else None, threads=threads,
        model_cache=model_cache,
    )
    detector = backend.build(config, context)
    logger.info("detector %s ready (%s)", config.name, model_in_use(config, context))
    return detector


def model_in_use(config: DetectorConfig, context: BuildContext) -> str:
    """Name the model file a built detector runs (the cached default when the config names none), or say none."""
    if config.name not in MODEL_BACKENDS:
        return "no model"
    return str(context.model_file(config))
