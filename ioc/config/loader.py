"""Read a site's YAML files, validate them once, and point every problem at its file and line.

A site is a directory holding ``site.yaml``, ``areas.yaml``, ``stations.yaml``, ``cameras.yaml``,
``kpis.yaml``, ``roster.yaml``, ``channels.yaml``, ``simulation.yaml`` and optionally ``alerts.yaml``,
``wall.yaml``, ``sources.yaml``, ``calendar.yaml`` and ``reports.yaml`` (each holds top-level sections of
``SiteConfig``; ``sources`` holds the alert sources' own sections, validated by the models they register in
``ioc.config.sections``), or one YAML file holding every section. The
round-trip loader of ruamel.yaml keeps line numbers, so a pydantic error at
``flood_stations[2].alarm_levels.II`` becomes ``stations.yaml:41``.
"""

from __future__ import annotations

import difflib
import logging
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from ioc.config.models import ConfigProblems, KeyPath, SiteConfig
from ioc.config.sections import SourceSection, registered
from ioc.errors import ConfigError, ConfigIssue

logger = logging.getLogger(__name__)

SITE_ENV = "IOC_SITE"
DEFAULT_SITE = Path("configs") / "muong-cha"
SITE_FILES: tuple[str, ...] = (
    "site.yaml",
    "areas.yaml",
    "stations.yaml",
    "cameras.yaml",
    "kpis.yaml",
    "roster.yaml",
    "channels.yaml",
    "simulation.yaml",
)
# Files read when present: a site without alert rules needs no alerts.yaml.
OPTIONAL_FILES: tuple[str, ...] = ("alerts.yaml", "wall.yaml", "sources.yaml", "calendar.yaml", "reports.yaml")
# Where each section is expected in a site directory; used to say which file a missing section belongs in.
SECTION_FILES: dict[str, str] = {
    "site": "site.yaml",
    "areas": "areas.yaml",
    "map_zones": "areas.yaml",
    "flood_stations": "stations.yaml",
    "cameras": "cameras.yaml",
    "kpis": "kpis.yaml",
    "roster": "roster.yaml",
    "channels": "channels.yaml",
    "simulation": "simulation.yaml",
    "alerts": "alerts.yaml",
    "tiles": "wall.yaml",
    "sources": "sources.yaml",
    "working_calendar": "calendar.yaml",
    "reports": "reports.yaml",
}


@dataclass
class _Documents:
    """The parsed YAML of a site: merged sections, and for each section the file and node it came from."""

    root: Path
    data: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, tuple[str, CommentedMap]] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)
    default_file: str = ""

    def locate(self, path: KeyPath) -> tuple[str, int | None]:
        """Return the file and 1-based line of a key path (of its nearest existing parent if it is absent)."""
        if not path or not isinstance(path[0], str) or path[0] not in self.origin:
            section = path[0] if path and isinstance(path[0], str) else ""
            return self._file_for_missing(section), None
        file, node = self.origin[path[0]]
        return file, _line_of(node, path)

    def _file_for_missing(self, section: str) -> str:
        if self.root.is_dir():
            return str(self.root / SECTION_FILES.get(section, "site.yaml"))
        return self.default_file


def default_site_path(chosen: Path | None = None) -> Path:
    """Return the site to load: ``chosen`` (``Settings.site``, ``IOC_SITE``), else the repository's
    ``configs/muong-cha``, else the cwd's."""
    if chosen:
        return Path(chosen)
    in_repo = Path(__file__).resolve().parents[2] / DEFAULT_SITE
    if in_repo.is_dir():
        return in_repo
    return Path.cwd() / DEFAULT_SITE


def site_root(path: Path | str) -> Path:
    """Return the directory relative paths of a site (geometry files, models) are resolved against."""
    p = Path(path)
    return p if p.is_dir() else p.parent


def load_site(path: Path | str) -> SiteConfig:
    """Load and validate a site directory or single YAML file; raise ``ConfigError`` listing every issue."""
    site, issues = _load(Path(path))
    if issues or site is None:
        raise ConfigError(issues)
    logger.info("loaded site %s from %s", site.site.id, path)
    return site


def validate_site(path: Path | str) -> list[ConfigIssue]:
    """Return every issue of a site directory or YAML file; empty when it is valid."""
    return _load(Path(path))[1]


def secret(name: str, env: Mapping[str, str]) -> str:
    """Return the variable ``name`` of ``env`` (``Settings.env``); raise ``ConfigError`` naming it when unset."""
    value = env.get(name)
    if not value:
        raise ConfigError(
            [
                ConfigIssue(
                    "environment",
                    None,
                    name,
                    f"environment variable {name} is not set; export {name}=... before starting",
                )
            ]
        )
    return value


def missing_secrets(path: Path | str, env: Mapping[str, str]) -> list[ConfigIssue]:
    """Return an issue, at the line that names it, for every ``*_env`` variable of a site that is unset."""
    site, issues = _load(Path(path))
    if site is None:
        return issues
    docs = _read(Path(path))
    found = []
    for key_path, name in env_references(site):
        if not env.get(name):
            file, line = docs.locate(key_path)
            found.append(
                ConfigIssue(
                    file,
                    line,
                    _dotted(key_path),
                    f"environment variable {name} is not set; export {name}=... before starting",
                )
            )
    return found


def env_references(site: SiteConfig) -> list[tuple[KeyPath, str]]:
    """Return the key path and variable name of every secret a site refers to (fields named ``*_env``)."""
    return list(_env_walk(site, ()))


def _env_walk(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            child = getattr(value, name)
            if name.endswith("_env") and isinstance(child, str):
                yield (*path, name), child
            else:
                yield from _env_walk(child, (*path, name))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _env_walk(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _env_walk(item, (*path, str(key)))


# --- reading ---------------------------------------------------------------------------------------------


def _load(path: Path) -> tuple[SiteConfig | None, list[ConfigIssue]]:
    return _validated(_read(path))


def _validated(docs: _Documents) -> tuple[SiteConfig | None, list[ConfigIssue]]:
    """Validate the sections read into ``docs``; the fuzzer calls this with all but one file parsed once."""
    if docs.issues:
        return None, docs.issues
    try:
        site = SiteConfig.model_validate(docs.data)
    except ValidationError as exc:
        errors = exc.errors()
        covered = _misspelled_required(errors)
        issues = [
            issue
            for err in errors
            if not (err["type"] == "missing" and _data_path(err["loc"])[0] in covered)
            for issue in _issues_of(err, docs)
        ]
        return None, issues
    issues = _source_sections(site, docs) + _runtime_checks(site, docs)
    return (None if issues else site), issues


def _source_sections(site: SiteConfig, docs: _Documents) -> list[ConfigIssue]:
    """Validate each ``sources.<type>`` section with its registered model, errors at their file and line."""
    sections = registered()
    issues: list[ConfigIssue] = []
    for name, raw in site.sources.items():
        section = sections.get(name)
        prefix: KeyPath = ("sources", name)
        if section is None:
            if sections:
                known = sorted(sections)
                close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
                file, line = docs.locate(prefix)
                issues.append(ConfigIssue(file, line, _dotted(prefix), f"unknown alert source {name!r}; {hint}"))
            continue
        issues += _source_section(site, section, raw, prefix, docs)
    return issues


def _source_section(
    site: SiteConfig, section: SourceSection, raw: object, prefix: KeyPath, docs: _Documents
) -> list[ConfigIssue]:
    try:
        config = section.model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        covered = _misspelled_required(errors, section.model)
        return [
            issue
            for err in errors
            if not (err["type"] == "missing" and _data_path(err["loc"], section.model)[0] in covered)
            for issue in _issues_of(err, docs, prefix, section.model)
        ]
    problems = section.check(site, config) if section.check is not None else []
    issues = []
    for path, message in problems:
        file, line = docs.locate(path)
        issues.append(ConfigIssue(file, line, _dotted(path), message))
    if not issues:
        site.with_source_config(section.name, config)
    return issues


def _read(path: Path) -> _Documents:
    docs = _Documents(root=path, default_file=str(path))
    if path.is_dir():
        files = [path / name for name in SITE_FILES]
        for f in files:
            if not f.is_file():
                docs.issues.append(
                    ConfigIssue(
                        str(f),
                        None,
                        f.stem,
                        f"file {f.name} is missing from {path}; create "
                        "it (an empty section such as `cameras: []` is "
                        "fine)",
                    )
                )
        docs.issues.extend(_stray_files(path))
        files = [f for f in files if f.is_file()] + [
            path / name for name in OPTIONAL_FILES if (path / name).is_file()
        ]
    elif path.is_file():
        files = [path]
    else:
        docs.issues.append(
            ConfigIssue(
                str(path),
                None,
                "",
                f"no site directory or YAML file at {path}; pass a "
                f"directory holding {', '.join(SITE_FILES[:2])}, ...",
            )
        )
        return docs
    for f in files:
        _read_file(f, docs)
    return docs


def _stray_files(directory: Path) -> list[ConfigIssue]:
    """Flag YAML files that would be silently ignored, such as ``station.yaml`` for ``stations.yaml``."""
    issues = []
    for f in sorted(directory.iterdir()):
        read = (*SITE_FILES, *OPTIONAL_FILES)
        if f.suffix in (".yaml", ".yml") and f.name not in read:
            close = difflib.get_close_matches(f.name, read, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else f"; the files read are {', '.join(read)}"
            issues.append(
                ConfigIssue(str(f), None, f.name, f"unexpected file {f.name} would be ignored{hint}")
            )
    return issues


def _read_file(f: Path, docs: _Documents) -> None:
    name = str(f)
    try:
        text = f.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        docs.issues.append(ConfigIssue(name, None, "", f"cannot read the file: {exc}"))
        return
    try:
        node = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        docs.issues.append(
            ConfigIssue(
                name,
                line,
                "",
                f"YAML syntax error: {problem}; check indentation, colons and brackets around this line",
            )
        )
        return
    except (ValueError, RecursionError) as exc:
        # ruamel.yaml lets int() refuse a number of over 4300 digits, and recurses once per nesting level
        # (issue 12 fuzzing): both are a file we cannot read, not a crash of `ioc config validate`.
        problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
        docs.issues.append(ConfigIssue(name, None, "", f"cannot read the YAML: {problem}; simplify the file"))
        return
    if node is None:
        return  # an empty file adds no sections
    if not isinstance(node, CommentedMap):
        docs.issues.append(
            ConfigIssue(
                name,
                1,
                "",
                "the file must be a mapping of sections (e.g. `flood_stations:`), "
                f"not a {type(node).__name__}",
            )
        )
        return
    for key in node:
        section = str(key)
        if section in docs.origin:
            first = docs.origin[section][0]
            docs.issues.append(
                ConfigIssue(
                    name,
                    node.lc.key(key)[0] + 1,
                    section,
                    f"section {section} is already defined in {first}; keep one of them",
                )
            )
            continue
        try:
            plain = _plain(node[key])
        except RecursionError:
            docs.issues.append(ConfigIssue(name, node.lc.key(key)[0] + 1, section,
                                           f"section {section} is nested too deeply to read; simplify it"))
            continue
        docs.origin[section] = (name, node)
        docs.data[section] = plain


def _plain(node: Any) -> Any:
    """Return the YAML tree as plain dicts, lists, str, int, float and bool (ruamel's types stripped)."""
    if isinstance(node, dict):
        return {str(k) if not isinstance(k, int | float | bool) else k: _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _line_of(node: Any, path: KeyPath) -> int | None:
    line: int | None = None
    current = node
    for part in path:
        if isinstance(current, CommentedMap) and part in current:
            line = current.lc.key(part)[0] + 1
            current = current[part]
        elif isinstance(current, CommentedSeq) and isinstance(part, int) and 0 <= part < len(current):
            line = current.lc.item(part)[0] + 1
            current = current[part]
        else:
            break
    return line


# --- mapping pydantic errors to issues -------------------------------------------------------------------


def _issues_of(
    err: ErrorDetails, docs: _Documents, prefix: KeyPath = (), root: type[BaseModel] = SiteConfig
) -> list[ConfigIssue]:
    """Return the issues of one pydantic error of ``root``, validated at ``prefix`` of the site's data."""
    rel, parent = _data_path(err["loc"], root)
    path = (*prefix, *rel)
    error = err.get("ctx", {}).get("error")
    if isinstance(error, ConfigProblems):
        issues = []
        for sub, message in error.problems:
            full = (*path, *sub)
            file, line = docs.locate(full)
            issues.append(ConfigIssue(file, line, _dotted(full), message))
        return issues
    file, line = docs.locate(path)
    return [ConfigIssue(file, line, _dotted(path), _message(err, path, parent))]


def _closest_key(path: KeyPath, parent: type[BaseModel] | None) -> str | None:
    valid = sorted(parent.model_fields) if parent is not None else []
    close = difflib.get_close_matches(str(path[-1]), valid, n=1, cutoff=0.5)
    return close[0] if close else None


def _misspelled_required(errors: list[ErrorDetails], root: type[BaseModel] = SiteConfig) -> set[KeyPath]:
    """Return the required keys that an unknown key next to them is a misspelling of (one issue, not two)."""
    covered = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            path, parent = _data_path(err["loc"], root)
            if path and (close := _closest_key(path, parent)) is not None:
                covered.add((*path[:-1], close))
    return covered


def _message(err: ErrorDetails, path: KeyPath, parent: type[BaseModel] | None) -> str:
    kind = err["type"]
    if kind == "extra_forbidden" and path:
        key = str(path[-1])
        close = _closest_key(path, parent)
        if close:
            return f"unknown key {key!r}; did you mean {close!r}?"
        valid = sorted(parent.model_fields) if parent is not None else []
        return f"unknown key {key!r}; valid keys here are: {', '.join(valid)}"
    if kind == "missing" and path:
        return f"required key {path[-1]!r} is missing; add it"
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    got = err.get("input")
    if kind not in ("missing",) and isinstance(got, str | int | float) and not isinstance(got, bool):
        msg = f"{msg} (got {got!r})"
    return msg


def _data_path(
    loc: Sequence[str | int], root: type[BaseModel] = SiteConfig
) -> tuple[KeyPath, type[BaseModel] | None]:
    """Drop pydantic's union tags from an error location; return it with the model that holds its last key."""
    path: list[str | int] = []
    tp: Any = root
    parent: type[BaseModel] | None = None
    for part in loc:
        tp = _strip(tp)
        tagged = _union_member(tp, part)
        if tagged is not None:
            tp = tagged
            continue
        path.append(part)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            parent = tp
            info = tp.model_fields.get(str(part))
            tp = info.annotation if info is not None else None
        elif origin is list and isinstance(part, int):
            tp = typing.get_args(tp)[0]
        elif origin is tuple and isinstance(part, int):
            args = typing.get_args(tp)
            tp = (
                args[0]
                if len(args) == 2 and args[1] is Ellipsis
                else (args[part] if part < len(args) else None)
            )
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            tp = None
    return tuple(path), parent


def _strip(tp: Any) -> Any:
    """Unwrap ``Annotated`` and ``Optional`` down to the type that decides the next step of a path."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp


def _union_member(tp: Any, part: str | int) -> type[BaseModel] | None:
    """Return the member of a discriminated union whose ``type`` tag is ``part``."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType) or not isinstance(part, str):
        return None
    for member in typing.get_args(tp):
        member = _strip(member)
        if (
            isinstance(member, type)
            and issubclass(member, BaseModel)
            and "type" in member.model_fields
            and part in typing.get_args(member.model_fields["type"].annotation)
        ):
            return member
    return None


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- checks that need the file system --------------------------------------------------------------------


def _runtime_checks(site: SiteConfig, docs: _Documents) -> list[ConfigIssue]:
    """Check what validators must not: that geometry files exist and the time zone is known."""
    issues = []
    root = site_root(docs.root)
    for i, area in enumerate(site.areas):
        if area.geometry is not None and not (root / area.geometry).is_file():
            path: KeyPath = ("areas", i, "geometry")
            file, line = docs.locate(path)
            issues.append(
                ConfigIssue(
                    file,
                    line,
                    _dotted(path),
                    f"area {area.code}: geometry file {area.geometry} "
                    f"not found under {root}; fix the path or run "
                    "scripts/build_site_geo.py",
                )
            )
    try:
        ZoneInfo(site.site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        file, line = docs.locate(("site", "timezone"))
        issues.append(
            ConfigIssue(
                file,
                line,
                "site.timezone",
                f"unknown time zone {site.site.timezone!r}; use an IANA name such as Asia/Ho_Chi_Minh",
            )
        )
    return issues
