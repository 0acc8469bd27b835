"""TimescaleDB 2.25.2 for the development PostgreSQL: built once from source into the cache, then preloaded.

Where the files live (the decision, kept in one place):

* The build is installed with ``DESTDIR`` into ``<cache>/timescaledb/<version>-pg<major>/root``, mirroring
  the Debian paths (``usr/lib/postgresql/15/lib/timescaledb*.so``,
  ``usr/share/postgresql/15/extension/timescaledb*``), with ``manifest.json`` beside it. Nothing is written
  into the system's PostgreSQL directories.
* PostgreSQL finds ``$libdir`` and its extension directory relative to its own executable (it is
  relocatable). So each start of the service assembles a small server tree next to its data: copies of
  ``postgres`` and ``initdb``, symlinks to every Debian library and share entry, and copies of the TimescaleDB
  files. The server run from that tree has TimescaleDB installed; the system's PostgreSQL stays as it was.

Source, in order: ``IOC_TIMESCALEDB_SOURCE`` (a tarball), else ``../shared/vendor/timescaledb-2.25.2.tar.gz``
beside the checkout, else the upstream tag archive downloaded into the cache. Every source must match
``ARCHIVE_SHA256``. The full build (the Apache core and the Timescale-licensed parts: continuous aggregates,
compression and policies, which the schema uses) follows ``../shared/vendor/SOURCES.md``. The manifest records
the archive's sha256, the build flags and ``pg_config --version``; while they match nothing is rebuilt (a
PostgreSQL minor upgrade rebuilds once).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ioc.app.services.process import Progress, log_tail
from ioc.app.services.settings import Settings, find_binary
from ioc.errors import ServiceError

logger = logging.getLogger(__name__)

VERSION = "2.25.2"
ARCHIVE_NAME = f"timescaledb-{VERSION}.tar.gz"
# `git archive --prefix=timescaledb-2.25.2/` of tag 2.25.2 (../shared/vendor/SHA256SUMS). GitHub serves its
# tag archives the same way, so the download should carry the same digest (not verifiable offline).
ARCHIVE_SHA256 = "c803be9abe8b7d8f28c27c1e8a84824be34b86358be72128b1a18c483942ca80"
UPSTREAM_URL = f"https://github.com/timescale/timescaledb/archive/refs/tags/{VERSION}.tar.gz"
VENDOR_ARCHIVE = Path(__file__).resolve().parents[4] / "shared" / "vendor" / ARCHIVE_NAME
CMAKE_FLAGS = ("-DREGRESS_CHECKS=OFF", "-DTAP_CHECKS=OFF", "-DWARNINGS_AS_ERRORS=OFF", "-DLINTER=OFF")
_DOWNLOAD_TIMEOUT_S = 60.0
_PERCENT = re.compile(rb"^\[\s*(\d+)%\]")
_FIX = (
    "run `make system-deps` (as root) for the build tools, then `ioc services up postgres` again; "
    "the whole build output is in {log}"
)


@dataclass(frozen=True)
class PgInstall:
    """The PostgreSQL installation TimescaleDB is built for, as its pg_config reports it."""

    pg_config: Path
    version: str
    bindir: Path
    pkglibdir: Path
    sharedir: Path

    @property
    def major(self) -> str:
        """``15`` for ``PostgreSQL 15.20 (Debian ...)``."""
        match = re.search(r"PostgreSQL (\d+)", self.version)
        return match.group(1) if match else "unknown"


def pg_install(s: Settings) -> PgInstall:
    """Ask the configured PostgreSQL's pg_config where it keeps binaries, libraries and shared files."""
    pg_config = find_binary(str(s.pg_bindir / "pg_config"))
    if pg_config is None:
        raise ServiceError(
            f"{s.pg_bindir / 'pg_config'} not found; run `make system-deps` (as root) to install PostgreSQL"
        )
    try:
        out = subprocess.run(
            [str(pg_config), "--version", "--bindir", "--pkglibdir", "--sharedir"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServiceError(f"{pg_config} failed: {exc}") from exc
    version, bindir, pkglibdir, sharedir = (line.strip() for line in out[:4])
    return PgInstall(pg_config, version, Path(bindir), Path(pkglibdir), Path(sharedir))


def build_dir(s: Settings, pg: PgInstall) -> Path:
    """``<cache>/timescaledb/<version>-pg<major>``: staged files under ``root/`` and ``manifest.json``."""
    return s.cache_dir / "timescaledb" / f"{VERSION}-pg{pg.major}"


def _wanted_manifest(pg: PgInstall) -> dict[str, object]:
    return {
        "timescaledb": VERSION,
        "source_sha256": ARCHIVE_SHA256,
        "cmake_flags": list(CMAKE_FLAGS),
        "pg_config": str(pg.pg_config),
        "pg_version": pg.version,
    }


def installed(s: Settings, pg: PgInstall) -> Path | None:
    """The ``root`` of a complete build for this PostgreSQL, or None when it must be (re)built."""
    where = build_dir(s, pg)
    try:
        manifest = json.loads((where / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    files = manifest.pop("files", [])
    manifest.pop("built_at", None)
    manifest.pop("build_seconds", None)
    if manifest != _wanted_manifest(pg) or not files:
        return None
    root = where / "root"
    return root if all((root / f).is_file() for f in files) else None


def ensure_built(s: Settings, progress: Progress) -> Path:
    """Build and stage TimescaleDB unless this PostgreSQL's build is cached; return its ``root``."""
    pg = pg_install(s)
    done = installed(s, pg)
    if done is not None:
        return done
    where = build_dir(s, pg)
    where.parent.mkdir(parents=True, exist_ok=True)
    log_path = where.parent / "build.log"
    archive = source_archive(s, progress)
    started = time.monotonic()
    scratch = where.with_name(where.name + ".partial")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    progress("postgres", f"tsdb_extracting {archive}")
    src = _extract(archive, scratch)
    fix = _FIX.format(log=log_path)
    for tool in ("cmake", "make", "cc"):
        if find_binary(tool) is None:
            raise ServiceError(f"{tool} not found, so TimescaleDB cannot be built; {fix}")
    build = src / "build"
    with log_path.open("ab") as log:
        log.write(
            f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} TimescaleDB {VERSION} from {archive}\n".encode()
        )
    jobs = str(os.cpu_count() or 1)
    steps: list[tuple[str, list[str], dict[str, str]]] = [
        (
            "configure",
            ["cmake", "-S", str(src), "-B", str(build), f"-DPG_CONFIG={pg.pg_config}", *CMAKE_FLAGS],
            {},
        ),
        ("compile", ["make", "-C", str(build), "-j", jobs], {}),
        ("install", ["make", "-C", str(build), "install"], {"DESTDIR": str(scratch / "root")}),
    ]
    for step, argv, env in steps:
        progress("postgres", f"tsdb_{step}")
        _run_logged(argv, log_path, env, progress if step == "compile" else None, fix)
    root = scratch / "root"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    if not any(f.endswith(".so") for f in files) or not any(f.endswith(".control") for f in files):
        raise ServiceError(f"the TimescaleDB build installed no library or control file into {root}; {fix}")
    seconds = round(time.monotonic() - started)
    manifest = {**_wanted_manifest(pg), "files": files, "built_at": time.time(), "build_seconds": seconds}
    (scratch / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(src)
    # Swap the whole directory in, so an interrupted build never looks complete.
    shutil.rmtree(where, ignore_errors=True)
    scratch.rename(where)
    logger.info("TimescaleDB %s built for %s in %d s into %s", VERSION, pg.version, seconds, where)
    progress("postgres", f"tsdb_built {seconds}")
    return where / "root"


def source_archive(
    s: Settings, progress: Progress, vendored: Path = VENDOR_ARCHIVE, url: str = UPSTREAM_URL
) -> Path:
    """The source archive checked against ARCHIVE_SHA256: the configured, the vendored or a downloaded one."""
    if s.timescaledb_source is not None:
        if not s.timescaledb_source.is_file():
            raise ServiceError(
                f"IOC_TIMESCALEDB_SOURCE={s.timescaledb_source} is not a file; give a {ARCHIVE_NAME}"
            )
        return _checked(s.timescaledb_source, "IOC_TIMESCALEDB_SOURCE")
    if vendored.is_file():
        return _checked(vendored, "the vendored archive")
    target = s.cache_dir / "timescaledb" / ARCHIVE_NAME
    if target.is_file() and _sha256(target) == ARCHIVE_SHA256:
        return target
    progress("postgres", f"tsdb_downloading {url}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    try:
        with (
            urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as answer,
            partial.open("wb") as out,
        ):
            shutil.copyfileobj(answer, out)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise ServiceError(
            f"no TimescaleDB {VERSION} source: IOC_TIMESCALEDB_SOURCE is unset, {vendored} does "
            f"not exist and {url} could not be downloaded ({exc}); fetch {ARCHIVE_NAME}"
            f" (sha256 {ARCHIVE_SHA256}) where there is internet access and set IOC_TIMESCALEDB_SOURCE to it"
        ) from exc
    try:
        _checked(partial, url)
    except ServiceError:
        partial.unlink()
        raise
    partial.rename(target)
    return target


def _checked(path: Path, origin: str) -> Path:
    digest = _sha256(path)
    if digest != ARCHIVE_SHA256:
        raise ServiceError(
            f"{path} ({origin}) has sha256 {digest}, not the pinned {ARCHIVE_SHA256} of TimescaleDB "
            f"{VERSION}; replace it with the unmodified release archive"
        )
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _extract(archive: Path, into: Path) -> Path:
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ServiceError(f"cannot unpack {archive}: {exc}") from exc
    tops = [p for p in into.iterdir() if p.is_dir() and (p / "CMakeLists.txt").is_file()]
    if len(tops) != 1:
        raise ServiceError(f"{archive} does not hold one TimescaleDB source directory")
    return tops[0]


def _run_logged(
    argv: list[str], log_path: Path, env: dict[str, str], progress: Progress | None, fix: str
) -> None:
    """Run one build step with its output appended to the log; report make's percentage every tenth."""
    with log_path.open("ab") as log:
        log.write(f"\n=== {' '.join(argv)}\n".encode())
        log.flush()
        offset = log.tell()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # The build tools inherit this process's environment (PATH, compiler variables); nothing is read.
            env={**os.environ, **env},
        )
        assert proc.stdout is not None
        shown = 0
        for line in proc.stdout:
            log.write(line)
            match = _PERCENT.match(line)
            if progress is not None and match and int(match.group(1)) >= shown + 10:
                shown = int(match.group(1)) // 10 * 10
                progress("postgres", f"tsdb_percent {shown}%")
        code = proc.wait()
    if code != 0:
        raise ServiceError(
            f"building TimescaleDB failed at `{' '.join(argv[:3])}` (exit {code}); {fix}\n"
            f"last lines:\n{log_tail(log_path, offset)}"
        )


def server_tree(pg: PgInstall, ext_root: Path, tree: Path) -> Path:
    """Assemble a relocated PostgreSQL under ``tree`` that finds TimescaleDB; return its bin directory.

    Rebuilt on every start (a few MB copied): a Debian upgrade of PostgreSQL is picked up by the next start.
    """
    scratch = tree.with_name(tree.name + ".partial")
    shutil.rmtree(scratch, ignore_errors=True)
    bindir, libdir, sharedir = (scratch / p.relative_to("/") for p in (pg.bindir, pg.pkglibdir, pg.sharedir))
    for d in (bindir, libdir, sharedir / "extension"):
        d.mkdir(parents=True)
    for program in ("postgres", "initdb"):
        # Copies, not symlinks: PostgreSQL resolves symlinks to find its own directory.
        shutil.copy2(pg.bindir / program, bindir / program)
    ours_lib = ext_root / pg.pkglibdir.relative_to("/")
    ours_ext = ext_root / pg.sharedir.relative_to("/") / "extension"
    _link_all(pg.pkglibdir, libdir, skip={p.name for p in ours_lib.iterdir()})
    _link_all(pg.sharedir, sharedir, skip={"extension"})
    _link_all(pg.sharedir / "extension", sharedir / "extension", skip={p.name for p in ours_ext.iterdir()})
    for src_dir, dest in ((ours_lib, libdir), (ours_ext, sharedir / "extension")):
        for f in src_dir.iterdir():
            shutil.copy2(f, dest / f.name)
    shutil.rmtree(tree, ignore_errors=True)
    scratch.rename(tree)
    return tree / pg.bindir.relative_to("/")


def _link_all(source: Path, dest: Path, skip: set[str]) -> None:
    for entry in source.iterdir():
        if entry.name not in skip:
            (dest / entry.name).symlink_to(entry)
