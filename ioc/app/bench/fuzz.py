"""``ioc bench fuzz``: property-based fuzzing of every parser that takes outside input (issue 12).

The invariant, for every target: an input becomes a typed event or a dead letter with a reason (a
config issue, a refused callback), nothing else raises past the parser, and no HTTP request ends in a
5xx. Each target pairs a Hypothesis strategy, which mixes valid-looking inputs with hostile ones (wrong
types, huge numbers, deep nesting, Unicode digits, extreme timestamps, binary garbage), with a check that
raises ``InvariantBroken`` or lets the parser's own unexpected exception through. ``run_fuzz`` counts
failures instead of stopping at the first, so a bench run reports cases, failures and cases/s per parser;
``tests/ingest/test_fuzz.py`` runs the same targets under pytest with a fixed seed, where Hypothesis
shrinks a failure to a small reproducer.

Hypothesis is a test dependency (``pip install -e '.[test]'``); ``ioc bench fuzz`` says so when it is missing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as with_seed
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from rich.table import Table

from analytics.alerts import AlertEngine, Observation
from ingest.flood import FloodTopics
from ingest.kpi import KpiCatalog, parse_csv, parse_xlsx
from ingest.lorawan import UplinkHandler, device_profiles
from ingest.mqtt import FloodMessageHandler
from ingest.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, StationSecrets, make_app, sign
from ioc import i18n
from ioc.app.site import SiteRuntime, station_limits
from ioc.config import loader
from ioc.config.loader import load_site
from ioc.errors import ConfigIssue, InvalidInput
from ioc.events import DeadLetter, KpiValue, SensorReading, utcnow
from ioc.notify.callbacks import reply_code
from ioc.notify.channels.base import CallbackEvent
from ioc.notify.channels.http import callback_token
from ioc.notify.channels.registry import build_channels
from ioc.notify.channels.webhook import signature_header
from ioc.notify.links import verify_ack_token

if TYPE_CHECKING:
    from flask.testing import FlaskClient
    from hypothesis.strategies import SearchStrategy

    from ioc.config.models import SiteConfig
    from ioc.notify.channels.base import ChannelType

logger = logging.getLogger(__name__)

DEFAULT_CASES = 10_000
DEFAULT_SEED = 12
SITE_DIR = Path(__file__).resolve().parents[3] / "configs" / "muong-cha"
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
WEBHOOK_TOKEN = "fuzz-token-8f3a"
WEBHOOK_KEY = "fuzz-hmac-key-77c1"
CHANNEL_ENV = {
    "IOC_ZALO_APP_ID": "fuzz-app",
    "IOC_ZALO_SECRET_KEY": "fuzz-zalo-secret",
    "IOC_ZALO_REFRESH_TOKEN": "r",
    "IOC_ESMS_API_KEY": "fuzz-esms-key",
    "IOC_ESMS_SECRET_KEY": "fuzz-esms-secret",
    "IOC_SPEEDSMS_ACCESS_TOKEN": "fuzz-speedsms-token",
    "IOC_WEBHOOK_SECRET": "fuzz-webhook-secret",
    "IOC_PUBLIC_URL": "http://127.0.0.1:8090",
    "IOC_ACK_LINK_SECRET": "fuzz-ack-secret",
}

i18n.register(
    {
        "bench.fuzz.title": (
            "Fuzzing các bộ phân tích đầu vào ({cases} ca mỗi bộ, seed {seed})",
            "Fuzzing the input parsers ({cases} cases each, seed {seed})",
        ),
        "bench.fuzz.parser": ("Bộ phân tích", "Parser"),
        "bench.fuzz.cases": ("Số ca", "Cases"),
        "bench.fuzz.failures": ("Lỗi", "Failures"),
        "bench.fuzz.rate": ("Ca/giây", "Cases/s"),
        "bench.fuzz.example": (
            "Ví dụ lỗi của {parser}: {error}\n    đầu vào: {case}",
            "Failure in {parser}: {error}\n    input: {case}",
        ),
        "bench.fuzz.ok": (
            "Không có lỗi: mọi đầu vào thành sự kiện có kiểu hoặc thư chết có lý do.",
            "No failures: every input became a typed event or a dead letter with a reason.",
        ),
        "bench.fuzz.failed": (
            "{n} lỗi; sửa ở nguyên nhân và thêm kiểm thử hồi quy.",
            "{n} failures; fix each at its cause and add a regression test.",
        ),
        "bench.fuzz.unknown": (
            "Không có bộ phân tích '{name}'. Chọn trong: {names}",
            "No parser named '{name}'. Choose from: {names}",
        ),
    }
)


class InvariantBroken(AssertionError):
    """A parser's answer broke the invariant (a 5xx, an event without a reason, an untyped result)."""


@dataclass(frozen=True)
class FuzzTarget:
    """One parser under fuzz: how to draw an input and how to check what the parser made of it."""

    name: str
    strategy: Callable[[World], SearchStrategy[Any]]
    check: Callable[[World, Any], None]


@dataclass
class Failure:
    """One input that broke the invariant."""

    case: str
    error: str


@dataclass
class TargetResult:
    """What fuzzing one parser gave."""

    name: str
    cases: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    failed: int = 0

    @property
    def rate(self) -> float:
        """Cases per second."""
        return self.cases / self.seconds if self.seconds > 0 else 0.0


@dataclass
class FuzzReport:
    """Every target's result, printable."""

    cases: int
    seed: int
    results: list[TargetResult]

    @property
    def failed(self) -> int:
        """All failures."""
        return sum(r.failed for r in self.results)

    def print(self, console: Any, lang: str = "vi") -> None:
        """Print the table and the first failure of each parser that has one."""

        table = Table(title=i18n.t("bench.fuzz.title", lang, cases=self.cases, seed=self.seed))
        for key in ("parser", "cases", "failures", "rate"):
            table.add_column(
                i18n.t(f"bench.fuzz.{key}", lang), justify="left" if key == "parser" else "right"
            )
        for r in self.results:
            table.add_row(r.name, str(r.cases), str(r.failed), f"{r.rate:,.0f}")
        console.print(table)
        for r in self.results:
            for f in r.failures[:3]:
                console.print(
                    i18n.t("bench.fuzz.example", lang, parser=r.name, error=f.error, case=f.case),
                    highlight=False,
                    markup=False,
                )
        console.print(
            i18n.t("bench.fuzz.failed", lang, n=self.failed)
            if self.failed
            else i18n.t("bench.fuzz.ok", lang),
            highlight=False,
        )


# --- the world the parsers run in: the sample site, its stations, devices, channels ------------------------


class World:
    """The sample site and the runtime pieces each parser needs, built once per run."""

    def __init__(self, site_dir: Path = SITE_DIR) -> None:
        self.site_dir = site_dir
        self._tmp: Path | None = None

    @cached_property
    def site(self) -> SiteConfig:
        """The sample site's config."""

        return load_site(self.site_dir)

    @cached_property
    def limits(self) -> dict[str, Any]:
        """Station limits by id."""

        return {s.id: station_limits(s) for s in self.site.flood_stations}

    @cached_property
    def devices(self) -> dict[str, Any]:
        """LoRaWAN devices by DevEUI."""

        return device_profiles(self.site.flood_stations)

    @cached_property
    def webhook(self) -> tuple[FlaskClient, list[Any]]:
        """A test client of the station webhook with every station's secrets, and the list it emits into."""

        emitted: list[Any] = []
        secrets = {sid: StationSecrets(token=WEBHOOK_TOKEN, hmac_key=WEBHOOK_KEY) for sid in self.limits}
        app = make_app(self.limits, secrets, emitted.append, clock=lambda: NOW)
        return app.test_client(), emitted

    @cached_property
    def kpi_catalog(self) -> Any:
        """The KPI catalog of the site."""

        return KpiCatalog.from_site(self.site)

    @cached_property
    def channels(self) -> dict[str, ChannelType]:
        """The site's notification channels with known secrets, never sending anything."""

        return build_channels(self.site, CHANNEL_ENV, None)

    @cached_property
    def parsed_files(self) -> dict[str, Any]:
        """Each file of the site copy parsed once (a ``_Documents`` of that file alone)."""

        out: dict[str, Any] = {}
        root = self.site_copy()
        for name in (*loader.SITE_FILES, *loader.OPTIONAL_FILES):
            if (root / name).is_file():
                docs = loader._Documents(root=root, default_file=str(root))
                loader._read_file(root / name, docs)
                out[name] = docs
        return out

    def validate_with(self, name: str, text: str) -> tuple[SiteConfig | None, list[Any]]:
        """Validate the site with ``name`` replaced by ``text``; other files parsed once (ruamel is slow)."""

        root = self.site_copy()
        docs = loader._Documents(root=root, default_file=str(root))
        for fname, parsed in self.parsed_files.items():
            if fname == name:
                with _swapped(root / name, text):
                    loader._read_file(root / name, docs)
                continue
            docs.issues.extend(parsed.issues)
            for section, origin in parsed.origin.items():
                if section in docs.origin:
                    docs.issues.append(
                        ConfigIssue(origin[0], None, section, f"section {section} is already defined")
                    )
                    continue
                docs.origin[section] = origin
                docs.data[section] = parsed.data[section]
        return loader._validated(docs)

    def site_copy(self) -> Path:
        """A private copy of the sample site whose files a target may overwrite (restored after each case)."""
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="ioc-fuzz-"))
            shutil.copytree(self.site_dir, self._tmp / "site")
        return self._tmp / "site"

    def close(self) -> None:
        """Remove the site copy."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


# --- shared generators -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A JSON token written verbatim: numbers json.dumps cannot make (5000 digits, 1e999, -0)."""

    text: str


def to_json(value: Any) -> str:
    """Serialise a generated value; ``Raw`` tokens go in as they are."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value, allow_nan=True)


UNICODE_DIGITS = [
    "²",
    "³",
    "¹",
    "٣",
    "۴",
    "१२",
    "\uff11\uff12",
    "\U0001d7d7",
    "½",
    "Ⅻ",
    "⁹⁹",
    "\u07c0",
    "꘠",
]
HUGE_NUMBERS = [
    "9" * 5000,
    "-" + "9" * 400,
    "1e999",
    "-1e999",
    "1e-999",
    "0." + "0" * 4000 + "1",
    "18446744073709551616",
    "-9223372036854775809",
    "-0",
    "1E400",
]
EXTREME_TIMES = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59.999999-23:59",
    "0001-01-01",
    "9999-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "2026-11-22T09:00:00+07:00",
    "2026-02-30T00:00:00Z",
    "2026-11-22T25:00:00Z",
    "",
    "T",
    "Z",
]


def hostile_text(max_size: int = 40) -> SearchStrategy[str]:
    """Strings a careless or hostile sender types: Unicode digits, huge numbers, control characters."""
    return st.one_of(
        st.text(max_size=max_size),
        st.sampled_from(
            UNICODE_DIGITS + HUGE_NUMBERS + EXTREME_TIMES + ["NaN", "Infinity", "null", "\x00", " "]
        ),
        st.text(alphabet=st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=12),
        st.integers().map(str),
    )


def hostile_scalar() -> SearchStrategy[Any]:
    """A JSON scalar of any type, including ones json.dumps cannot write."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        hostile_text(),
        st.sampled_from(HUGE_NUMBERS).map(Raw),
    )


def json_values(max_leaves: int = 12) -> SearchStrategy[Any]:
    """Nested JSON of any shape."""
    return st.recursive(
        hostile_scalar(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(hostile_text(12), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def deep_json() -> SearchStrategy[str]:
    """Nesting deep enough to exhaust a recursive parser (issue 12, hole 11: 100,000 levels)."""
    return st.builds(
        lambda depth, kind: ("[" * depth + "]" * depth) if kind else ('{"a":' * depth + "1" + "}" * depth),
        st.sampled_from([64, 1_000, 20_000, 100_000]),
        st.booleans(),
    )


def timestamps(now: Callable[[], datetime]) -> SearchStrategy[Any]:
    """A measurement time: near now (valid), extreme, wrong type or garbage."""
    near = st.builds(
        lambda d: (now() + d).isoformat(), st.timedeltas(timedelta(days=-8), timedelta(minutes=15))
    )
    offsets = st.builds(
        lambda d, off: datetime(*d.timetuple()[:6]).replace(tzinfo=_tz(off)).isoformat(),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
        st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
    )
    return st.one_of(
        near,
        near,
        offsets,
        st.sampled_from(EXTREME_TIMES),
        hostile_scalar(),
        st.builds(lambda d: (now() + d).timestamp(), st.timedeltas(timedelta(days=-8), timedelta(0))),
    )


def _tz(minutes: int) -> Any:

    return timezone(timedelta(minutes=minutes))


def _metric_values() -> SearchStrategy[Any]:
    return st.one_of(st.floats(min_value=-10, max_value=100), st.integers(-200, 600), hostile_scalar())


def _payload(objects: SearchStrategy[Any]) -> SearchStrategy[bytes]:
    return st.one_of(
        objects.map(lambda o: to_json(o).encode()),
        objects.map(lambda o: to_json(o).encode()),
        objects.map(lambda o: to_json(o).encode()),
        json_values().map(lambda o: to_json(o).encode()),
        deep_json().map(str.encode),
        st.binary(max_size=200),
        st.builds(lambda b, n: (b or b"x") * n, st.binary(min_size=1, max_size=8), st.integers(1, 20_000)),
    )


# --- targets -----------------------------------------------------------------------------------------------

_KNOWN_EVENT_TYPES = ("sensor_reading", "dead_letter")


def _event_ok(event: Any, *, allow_none: bool = False) -> None:

    if event is None and allow_none:
        return
    if isinstance(event, DeadLetter):
        if not event.reason or not event.detail:
            raise InvariantBroken(f"dead letter without a reason or detail: {event!r}")
    elif not isinstance(event, SensorReading):
        raise InvariantBroken(f"not an event: {event!r}")
    event.to_bytes()  # it must travel on the bus


def _flood_strategy(world: World) -> SearchStrategy[tuple[str, bytes]]:

    stations = sorted(world.limits) or ["NS-01"]
    site = world.site.site.id
    topics = st.one_of(
        st.sampled_from(stations).map(lambda s: f"ioc/{site}/flood/{s}/up"),
        hostile_text().map(lambda s: f"ioc/{site}/flood/{s}/up"),
        st.text(max_size=60),
        st.just(f"ioc/{site}/flood//up"),
        st.just(f"ioc/{site}/flood/+/up"),
    )
    metrics = st.sampled_from(["water_level_m", "rainfall_mm", "battery_v", "signal_dbm", "ts", "extra"])
    objects = st.builds(
        lambda ts, values, drop_ts: ({} if drop_ts else {"ts": ts}) | values,
        timestamps(utcnow),
        st.dictionaries(metrics, _metric_values(), max_size=4),
        st.booleans(),
    )
    return st.tuples(topics, _payload(objects))


def _flood_check(world: World, case: tuple[str, bytes]) -> None:

    out: list[Any] = []
    handler = FloodMessageHandler(FloodTopics(world.site.site.id), world.limits, out.append)
    events = handler(*case)
    if out != events or not events:
        raise InvariantBroken(f"the handler emitted {len(out)} events and returned {len(events)}")
    for event in events:
        _event_ok(event)


def _lorawan_strategy(world: World) -> SearchStrategy[tuple[str, bytes]]:

    euis = sorted(world.devices) or ["a84041000181c061"]
    eui = st.one_of(st.sampled_from(euis), st.sampled_from(euis).map(str.upper), hostile_text(20))
    frame = st.one_of(
        st.binary(max_size=12),
        st.builds(
            lambda b, d: (b | 0xC000).to_bytes(2, "big") + d.to_bytes(2, "big") + b"\x00\x00\xd7\x01",
            st.integers(0, 0x3FFF),
            st.integers(0, 0xFFFF),
        ),
    )
    data = st.one_of(frame.map(lambda b: base64.b64encode(b).decode()), hostile_scalar())
    obj = st.dictionaries(
        st.sampled_from(["Distance", "Bat", "water_level_m", "rainfall_mm", "battery_v", "pulses", "x"]),
        st.one_of(hostile_scalar(), st.integers(0, 8000).map(lambda n: f"{n} mm")),
        max_size=3,
    )
    rx = st.lists(
        st.dictionaries(st.sampled_from(["rssi", "snr", "gatewayId"]), hostile_scalar(), max_size=3),
        max_size=3,
    )
    event = st.fixed_dictionaries(
        {"deviceInfo": st.one_of(st.fixed_dictionaries({"devEui": eui}), hostile_scalar())},
        optional={
            "time": timestamps(utcnow),
            "fPort": st.one_of(st.sampled_from([2, 5, 1, 0, 224]), hostile_scalar()),
            "data": data,
            "object": st.one_of(obj, hostile_scalar()),
            "rxInfo": st.one_of(rx, hostile_scalar()),
        },
    )
    topic = st.one_of(
        st.tuples(st.text(max_size=8), eui).map(lambda t: f"application/{t[0]}/device/{t[1]}/event/up"),
        st.sampled_from(euis).map(lambda e: f"application/1/device/{e}/event/up"),
        st.text(max_size=60),
    )
    return st.tuples(topic, _payload(event))


def _lorawan_check(world: World, case: tuple[str, bytes]) -> None:

    out: list[Any] = []
    event = UplinkHandler(world.devices, world.limits, out.append)(*case)
    if out != ([] if event is None else [event]):
        raise InvariantBroken(f"the handler emitted {len(out)} events for {event!r}")
    _event_ok(event, allow_none=True)


def _latin1(text: str) -> str:
    # What a WSGI server hands the app: header bytes decoded as ISO-8859-1; CR, LF and NUL never get through.
    raw = text.encode("utf-8", "replace").decode("latin-1")
    return "".join(c for c in raw if c not in "\r\n\x00")


def _webhook_strategy(world: World) -> SearchStrategy[tuple[str, dict[str, str], bytes, str]]:

    stations = sorted(world.limits)
    station = st.one_of(st.sampled_from(stations), st.sampled_from(stations), hostile_text(20))
    body = _flood_strategy(world).map(lambda c: c[1])
    stamp = st.one_of(
        st.just(str(int(NOW.timestamp()))),
        st.integers(-(2**40), 2**40).map(str),
        hostile_text(),
        st.sampled_from(["9" * 5000, "²", "١٧٦٤"]),
    )
    auth = st.sampled_from(["token", "hmac", "bad-token", "none", "random"])
    return st.tuples(
        station, auth, stamp, body, st.dictionaries(hostile_text(12), hostile_text(), max_size=3)
    ).map(_webhook_request)


def _webhook_request(
    parts: tuple[str, str, str, bytes, dict[str, str]],
) -> tuple[str, dict[str, str], bytes, str]:

    station, auth, stamp, body, extra = parts
    headers: dict[str, str] = {}
    for k, v in extra.items():
        name = "".join(c for c in _latin1(k) if c.isascii() and (c.isalnum() or c == "-"))
        if name:
            headers[name] = _latin1(v)
    if auth == "token":
        headers["Authorization"] = f"Bearer {WEBHOOK_TOKEN}"
    elif auth == "bad-token":
        headers["Authorization"] = f"Bearer {_latin1(stamp)}"
    elif auth == "hmac":
        headers[TIMESTAMP_HEADER] = _latin1(stamp)
        headers[SIGNATURE_HEADER] = sign(WEBHOOK_KEY, _latin1(stamp), body)
    elif auth == "random":
        headers["Authorization"] = _latin1(stamp)
        headers[SIGNATURE_HEADER] = _latin1(stamp)
    return station, headers, body, auth


def _webhook_check(world: World, case: tuple[str, dict[str, str], bytes, str]) -> None:

    station, headers, body, _auth = case
    client, emitted = world.webhook
    emitted.clear()
    path = f"/api/v1/stations/{urllib.parse.quote(station, safe='')}/readings"
    resp = client.post(path, data=body, headers=headers)
    status = resp.status_code
    if status >= 500:
        raise InvariantBroken(f"HTTP {status}: {resp.get_data(as_text=True)[:200]}")
    want: dict[int, tuple[type, ...]] = {202: (SensorReading,), 400: (DeadLetter,), 422: (DeadLetter,)}
    kinds = tuple(type(e) for e in emitted)
    if kinds != want.get(status, ()):
        raise InvariantBroken(f"HTTP {status} emitted {[k.__name__ for k in kinds]}")
    for e in emitted:
        _event_ok(e)
    if status != 202 and (resp.json is None or "error" not in resp.json):
        raise InvariantBroken(f"HTTP {status} without a JSON error")


_KPI_HEADERS = [
    ["chi_tieu", "Chỉ tiêu", "KPI", "kpi_id", "MA CHI TIEU"],
    ["don_vi", "Đơn vị", "unit", "xa"],
    ["ky", "Kỳ báo cáo", "period", "thoi_gian"],
    ["gia_tri", "Giá trị", "value", "ket_qua"],
    ["ke_hoach", "target"],
    ["nguon", "source"],
]
_PERIODS = [
    "2025-07",
    "07/2025",
    "T7/2025",
    "Tháng 7/2025",
    "Q3/2025",
    "2025-Q3",
    "Quý III/2025",
    "2025",
    "Năm 2025",
    "0001-01",
    "9999-Q4",
    "99999-12",
    "T13/2025",
    "Q0/2025",
    "0000",
    "Năm 0",
    "00/0001",
    "12/9999",
    "Quý V/2025",
    "Q4/9999",
    "9999",
    "0001",
]


def _kpi_rows(world: World) -> SearchStrategy[list[list[Any]]]:
    kpis = [k.id for k in world.site.kpis] + [k.name_vi for k in world.site.kpis]
    units = [a.code for a in world.site.areas] + [a.name for a in world.site.areas]
    cell = st.one_of(hostile_text(), st.none())
    row = st.tuples(
        st.one_of(st.sampled_from(kpis), cell),
        st.one_of(st.sampled_from(units), cell),
        st.one_of(st.sampled_from(_PERIODS), cell),
        st.one_of(
            st.sampled_from(["96.63", "96,63", "96.63%", "133.370", "133,370", "-1", "101", "1e400"]),
            st.floats(allow_nan=True, allow_infinity=True).map(str),
            cell,
        ),
        st.one_of(cell, st.floats(0, 200).map(str)),
        cell,
    ).map(list)
    header = st.tuples(*(st.sampled_from(names) for names in _KPI_HEADERS)).map(list)
    return st.builds(
        lambda title, h, rows: [*title, h, *rows],
        st.lists(st.lists(cell, max_size=2), max_size=2),
        header,
        st.lists(row, max_size=8),
    )


def _kpi_csv_strategy(world: World) -> SearchStrategy[bytes]:

    def encode(rows: list[list[Any]], sep: str, enc: str) -> bytes:
        text = "\n".join(sep.join("" if c is None else str(c) for c in r) for r in rows)
        if enc == "utf-16":
            return text.encode("utf-16", "replace")
        return ("\ufeff" + text if enc == "utf-8-sig" else text).encode(enc, "replace")

    return st.one_of(
        st.builds(
            encode,
            _kpi_rows(world),
            st.sampled_from([",", ";", "\t"]),
            st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1258"]),
        ),
        st.binary(max_size=400),
        st.builds(lambda q: f'chi_tieu,don_vi,ky,gia_tri\n"{q},a,b,c\n'.encode(), hostile_text()),
    )


def _kpi_result_ok(result: Any) -> None:

    for v in result.values:
        if not isinstance(v, KpiValue):
            raise InvariantBroken(f"not a KpiValue: {v!r}")
        v.to_bytes()
    for d in result.rejected:
        if not isinstance(d, DeadLetter) or not d.reason or not d.detail:
            raise InvariantBroken(f"rejection without a reason: {d!r}")
        d.to_bytes()


def _kpi_csv_check(world: World, data: bytes) -> None:

    _kpi_result_ok(parse_csv(data, "fuzz.csv", world.kpi_catalog, received_at=NOW))


def _kpi_xlsx_strategy(world: World) -> SearchStrategy[bytes]:
    cells = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**60), 2**60),
        st.floats(allow_nan=False, allow_infinity=False),
        st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 31)),
        hostile_text(20),
    )

    def workbook(
        rows: list[list[Any]], extra: list[Any], merge: tuple[int, int, int, int] | None, percent: bool
    ) -> bytes:

        wb = Workbook()
        ws = wb.active
        for r in rows:
            ws.append([_xlsx_safe(c) for c in r] + [_xlsx_safe(c) for c in extra])
        if percent:
            for row in ws.iter_rows():
                for c in row:
                    c.number_format = "0.00%"
        if merge is not None:
            r1, c1, dr, dc = merge
            ws.merge_cells(start_row=r1, start_column=c1, end_row=r1 + dr, end_column=c1 + dc)
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()

    built = st.builds(
        workbook,
        _kpi_rows(world),
        st.lists(cells, max_size=2),
        st.one_of(
            st.none(), st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(0, 3), st.integers(0, 3))
        ),
        st.booleans(),
    )
    return st.one_of(
        built,
        built,
        built,
        st.binary(max_size=300),
        st.builds(lambda b, n: b[:n], built, st.integers(0, 3000)),
    )


def _xlsx_safe(value: Any) -> Any:
    # openpyxl refuses control characters in cell text; a real workbook cannot hold them either.
    if isinstance(value, str):

        return ILLEGAL_CHARACTERS_RE.sub("", value)[:32767]
    return value


def _kpi_xlsx_check(world: World, data: bytes) -> None:

    _kpi_result_ok(parse_xlsx(data, "fuzz.xlsx", world.kpi_catalog, received_at=NOW))


def _callback_strategy(
    world: World,
) -> SearchStrategy[tuple[str, dict[str, str], bytes, dict[str, str], str]]:
    ids = sorted(world.channels)
    shaped = st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["report", "sms", "x"]),
            "kind": st.sampled_from(["reply", "delivery", "x"]),
            "event_name": st.sampled_from(["user_received_message", "user_send_text", "x"]),
            "tranId": hostile_scalar(),
            "status": hostile_scalar(),
            "phone": hostile_scalar(),
            "content": hostile_scalar(),
            "text": hostile_scalar(),
            "message_id": hostile_scalar(),
            "timestamp": hostile_scalar(),
            "message": json_values(4),
            "sender": json_values(4),
            "reason": hostile_scalar(),
        },
    )
    body = st.one_of(
        shaped.map(lambda o: to_json(o).encode()),
        json_values().map(lambda o: to_json(o).encode()),
        deep_json().map(str.encode),
        st.binary(max_size=200),
    )
    query = st.dictionaries(
        st.sampled_from(
            [
                "sig",
                "sender",
                "content",
                "smsid",
                "SMSID",
                "SendSuccess",
                "SendFailed",
                "SendStatus",
                "receiverTime",
                "sign",
                "cpid",
            ]
        ),
        hostile_text(),
        max_size=6,
    )
    signed = st.booleans()
    return st.tuples(st.sampled_from(ids), body, query, signed, st.integers(-(2**33), 2**33)).map(
        lambda p: _signed_callback(world, *p)
    )


def _signed_callback(
    world: World, channel_id: str, body: bytes, query: dict[str, str], signed: bool, t: int
) -> tuple[str, dict[str, str], bytes, dict[str, str], str]:
    """Sign a generated callback as the provider would, so the fuzz reaches the parser behind the check."""

    headers: dict[str, str] = {}
    path_token = ""
    if not signed:
        return channel_id, headers, body, query, path_token
    channel = world.channels[channel_id]
    kind = type(channel).__name__
    if kind in ("EsmsAdapter", "SpeedSmsAdapter"):
        secret = CHANNEL_ENV["IOC_ESMS_API_KEY" if kind == "EsmsAdapter" else "IOC_SPEEDSMS_ACCESS_TOKEN"]
        path_token = callback_token(secret, channel_id)
        if kind == "EsmsAdapter" and "sender" in query and "content" in query:
            text = "".join(query.get(k, "") for k in ("cpid", "smsid", "content", "receiverTime"))
            mac = hashlib.md5((text + CHANNEL_ENV["IOC_ESMS_SECRET_KEY"]).encode()).digest()
            query["sign"] = base64.b64encode(mac).decode()
    elif kind == "WebhookAdapter":
        now = int(time.time()) if t % 2 else t
        headers["X-IOC-Signature"] = signature_header(CHANNEL_ENV["IOC_WEBHOOK_SECRET"].encode(), body, now)
    elif kind == "ZaloZnsAdapter":
        try:
            event = json.loads(body)
        except (ValueError, RecursionError):
            event = None
        stamp = str(event.get("timestamp", "")) if isinstance(event, dict) else ""
        text = CHANNEL_ENV["IOC_ZALO_APP_ID"] + body.decode("utf-8", "replace") + stamp
        headers["X-ZEvent-Signature"] = (
            "mac=" + hashlib.sha256((text + CHANNEL_ENV["IOC_ZALO_SECRET_KEY"]).encode()).hexdigest()
        )
    return channel_id, headers, body, query, path_token


def _callback_check(world: World, case: tuple[str, dict[str, str], bytes, dict[str, str], str]) -> None:

    channel_id, headers, body, query, path_token = case
    try:
        events = world.channels[channel_id].parse_callback(headers, body, query, path_token=path_token)
    except InvalidInput as exc:
        if not exc.reason:
            raise InvariantBroken("a refusal without a reason") from exc
        events = []
    for e in events:
        if not isinstance(e, CallbackEvent):
            raise InvariantBroken(f"not a CallbackEvent: {e!r}")
        if e.text is not None:
            code = reply_code(e.text)
            if code is not None and (len(code) != 6 or not all(c in "0123456789ABCDEF" for c in code)):
                raise InvariantBroken(f"reply code {code!r} from {e.text!r}")
    token = body.decode("utf-8", "replace")[:200]
    with suppress(InvalidInput):  # a refusal is the expected answer to a forged link
        verify_ack_token(token, CHANNEL_ENV["IOC_ACK_LINK_SECRET"].encode())


@contextmanager
def _swapped(path: Path, text: str) -> Iterator[None]:
    original = path.read_bytes() if path.exists() else None
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        yield
    finally:
        if original is None:
            path.unlink()
        else:
            path.write_bytes(original)


_YAML_ATTACKS = [
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
    "x: !!python/object/apply:os.system ['echo pwned']\n",
    "flood_stations: " + "[" * 5000 + "]" * 5000 + "\n",
    "flood_stations: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n",
    "site: {timezone: 'Asia/../../etc/passwd'}\n",
    "site: {timezone: '\\x00'}\n",
    "alerts: {rules: [{id: x, source: flood, metric: m, condition: {op: '>', value: " + "9" * 5000 + "}}]}\n",
    "? [a, b]\n: c\n",
    "- 1\n- 2\n",
    "!!binary AAAA\n",
    "%YAML 9.9\n---\na: 1\n",
    "a: 1\na: 2\n",
    "\ufeffsite: null\n",
    "\x00\x01",
    "a: *undefined\n",
    "<<: *x\n",
    "a: !custom 1\n",
]


def _yaml_text(world: World, files: list[str]) -> SearchStrategy[tuple[str, str]]:
    originals = {f: (world.site_dir / f).read_text(encoding="utf-8") for f in files}

    def mutate(name: str, ops: list[tuple[int, int, str]]) -> tuple[str, str]:
        lines = originals[name].splitlines()
        for kind, at, scalar in ops:
            if not lines:
                break
            i = at % len(lines)
            if kind == 0:
                del lines[i]
            elif kind == 1:
                lines.insert(i, lines[i])
            elif kind == 2 and ":" in lines[i]:
                key = lines[i].split(":", 1)[0]
                lines[i] = f"{key}: {scalar}"
            elif kind == 3:
                lines[i] = " " + lines[i]
            else:
                lines[i] = lines[i] + " " + scalar
        return name, "\n".join(lines) + "\n"

    scalar = st.one_of(
        hostile_text(20).map(json.dumps),
        st.sampled_from(
            [
                "-1",
                "1e999",
                ".nan",
                ".inf",
                "~",
                "[]",
                "{}",
                "'0001-01'",
                "99999-12",
                "9999-Q4",
                "*x",
                "&x 1",
                "!!int x",
                "0x7FFFFFFFFFFFFFFFFFFF",
                "9" * 5000,
                "'²'",
                "yes",
                "2026-02-30",
                "{op: '=~', value: 1}",
            ]
        ),
    )
    ops = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 10_000), scalar), min_size=1, max_size=6)
    return st.one_of(
        st.builds(mutate, st.sampled_from(files), ops),
        st.builds(mutate, st.sampled_from(files), ops),
        st.tuples(st.sampled_from(files), st.sampled_from(_YAML_ATTACKS)),
        st.tuples(st.sampled_from(files), st.text(max_size=200)),
    )


def _site_strategy(world: World) -> SearchStrategy[tuple[str, str]]:
    return _yaml_text(
        world,
        [
            "site.yaml",
            "areas.yaml",
            "stations.yaml",
            "cameras.yaml",
            "kpis.yaml",
            "roster.yaml",
            "channels.yaml",
            "wall.yaml",
            "calendar.yaml",
            "reports.yaml",
        ],
    )


def _site_check(world: World, case: tuple[str, str]) -> None:

    name, text = case
    _config, issues = world.validate_with(name, text)
    if not isinstance(issues, list) or not all(isinstance(i, ConfigIssue) and i.message for i in issues):
        raise InvariantBroken(f"not a list of config issues: {issues!r}")


def _rules_strategy(world: World) -> SearchStrategy[tuple[str, str, list[Any]]]:
    ops = st.sampled_from([">", ">=", "<", "<=", "==", "!=", "=~", "", "=>"])
    threshold = st.one_of(
        st.sampled_from(
            [
                "station.rate_of_rise_m_per_h",
                "station.rainfall.mm_1h",
                "station.alarm_levels.II",
                "kpi.target",
                "zone.thresholds.max_count",
                "heavy",
                "station.",
                "station.__class__",
                "station.alarm_levels.IX",
                "kpi.target.real",
            ]
        ),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(2**70), 2**70),
        hostile_text(12),
    )
    rule = st.fixed_dictionaries(
        {
            "id": st.one_of(st.just("r"), hostile_text(10)),
            "source": st.sampled_from(["flood", "zone", "camera", "kpi", "x"]),
            "metric": st.sampled_from(
                [
                    "rise_m_per_h",
                    "rainfall_1h_mm",
                    "silence_s",
                    "congestion",
                    "occupancy",
                    "count",
                    "value",
                    "Bad-Metric",
                ]
            ),
            "condition": st.fixed_dictionaries(
                {"op": ops},
                optional={
                    "value": threshold,
                    "hysteresis": hostile_scalar(),
                    "levels": st.dictionaries(
                        st.sampled_from(["info", "warning", "major", "critical", "x"]), threshold, max_size=3
                    ),
                },
            ),
            "message": st.one_of(
                st.just({"vi": "{subject} {value} {threshold}", "en": "{value} {threshold}"}),
                st.fixed_dictionaries({"vi": hostile_text(), "en": hostile_text()}),
            ),
        },
        optional={
            "severity": st.sampled_from(["info", "warning", "major", "critical", "x"]),
            "for_s": hostile_scalar(),
            "clear_for_s": hostile_scalar(),
            "update_delta": hostile_scalar(),
            "subjects": st.lists(hostile_text(10), max_size=2),
        },
    )
    values = st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), hostile_text(8)), max_size=4)
    return st.tuples(
        st.lists(rule, min_size=1, max_size=3).map(lambda rs: to_json({"alerts": {"rules": rs}})),
        st.just("alerts.yaml"),
        values,
    ).map(lambda p: (p[1], p[0], p[2]))


def _rules_check(world: World, case: tuple[str, str, list[Any]]) -> None:

    name, text, values = case
    config, issues = world.validate_with(name, text)
    if config is None:
        if not issues:
            raise InvariantBroken("refused without an issue")
        return
    setup = SiteRuntime.build(config, world.site_copy()).alerts
    engine = AlertEngine(setup.rules)
    for i, value in enumerate(values):
        for rule in setup.rules:
            obs = Observation(
                rule.source,
                rule.subject if rule.subject != "*" else "NS-01",
                rule.metric,
                value,
                NOW + timedelta(minutes=i),
            )
            for event in engine.observe(obs):
                event.to_bytes()
    engine.tick(NOW + timedelta(days=1))


TARGETS: dict[str, FuzzTarget] = {
    t.name: t
    for t in (
        FuzzTarget("mqtt_flood", _flood_strategy, _flood_check),
        FuzzTarget("lorawan_uplink", _lorawan_strategy, _lorawan_check),
        FuzzTarget("webhook", _webhook_strategy, _webhook_check),
        FuzzTarget("kpi_csv", _kpi_csv_strategy, _kpi_csv_check),
        FuzzTarget("kpi_xlsx", _kpi_xlsx_strategy, _kpi_xlsx_check),
        FuzzTarget("notify_callbacks", _callback_strategy, _callback_check),
        FuzzTarget("site_yaml", _site_strategy, _site_check),
        FuzzTarget("alert_rules", _rules_strategy, _rules_check),
    )
}


def run_target(target: FuzzTarget, world: World, cases: int, seed: int, keep: int = 5) -> TargetResult:
    """Run ``cases`` generated inputs through one parser and count those that broke the invariant."""

    result = TargetResult(target.name)

    @with_seed(seed)
    @settings(
        max_examples=cases,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(target.strategy(world))
    def one(case: Any) -> None:
        result.cases += 1
        try:
            target.check(world, case)
        except Exception as exc:  # the fuzzer's job: any exception past the parser is a finding, counted
            result.failed += 1
            if len(result.failures) < keep:
                result.failures.append(Failure(_short(case), f"{type(exc).__name__}: {str(exc)[:300]}"))

    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # every rejection logs a warning; 80,000 of them would drown the table
    start = time.perf_counter()
    try:
        one()
    finally:
        quiet.setLevel(level)
    result.seconds = time.perf_counter() - start
    return result


def _short(case: Any) -> str:
    text = repr(case)
    return text if len(text) <= 300 else text[:300] + f"... ({len(text)} chars)"


def run_fuzz(
    cases: int = DEFAULT_CASES,
    seed: int = DEFAULT_SEED,
    only: list[str] | None = None,
    report: Callable[[str], None] | None = None,
) -> FuzzReport:
    """Fuzz every parser (or ``only`` those) with ``cases`` inputs each."""
    names = only or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        raise InvalidInput(
            "unknown_parser",
            i18n.t("bench.fuzz.unknown", "en", name=", ".join(unknown), names=", ".join(TARGETS)),
        )
    world = World()
    results = []
    try:
        for name in names:
            result = run_target(TARGETS[name], world, cases, seed)
            if report is not None:
                report(f"{name}: {result.cases} cases, {result.failed} failures, {result.rate:,.0f}/s")
            results.append(result)
    finally:
        world.close()
    return FuzzReport(cases, seed, results)


def targets() -> Mapping[str, FuzzTarget]:
    """Every fuzz target by name."""
    return TARGETS
