"""ChirpStack uplinks: byte layouts of each decoder, server-decoded objects, and every kind of bad uplink."""

from __future__ import annotations

import base64
import typing
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from ingest.flood import StationLimits
from ingest.lorawan import (
    DECODERS,
    DeviceProfile,
    UplinkHandler,
    decode_ldds75,
    decode_rain_pulses,
    dev_eui_of_topic,
    device_profiles,
    parse_uplink,
)
from ioc.config import load_site
from ioc.config.models import LorawanModel
from ioc.errors import InvalidInput
from ioc.events import DeadLetter, Event, SensorReading

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
LEVEL = DeviceProfile("a84041000181c061", "NN-01", "dragino-ldds75", mount_height_m=5.0)
RAIN = DeviceProfile("70b3d57ed0000001", "NS-01", "rain-pulses", mm_per_pulse=0.2)
DEVICES = {d.dev_eui: d for d in (LEVEL, RAIN)}
STATIONS = {
    "NN-01": StationLimits("NN-01", {"water_level_m": (-1.0, 15.0)}),
    "NS-01": StationLimits("NS-01", {"rainfall_mm": (0.0, 200.0)}),
}
TOPIC = "application/5f1c/device/a84041000181c061/event/up"


def ldds75(battery_mv: int, distance_mm: int, flags: int = 0xC000) -> bytes:
    """An 8-byte LDDS75 frame: battery (top flag bits set), distance, interrupt, temperature, sensor flag."""
    battery = (battery_mv | flags).to_bytes(2, "big")
    return battery + distance_mm.to_bytes(2, "big") + b"\x00" + (215).to_bytes(2, "big") + b"\x01"


def uplink(dev_eui: str = LEVEL.dev_eui, data: bytes | None = None, data_b64: str | None = None,
           **fields: Any) -> bytes:
    event: dict[str, Any] = {
        "deduplicationId": "3bd4d4b7-3c3e-4a7f-9c34-1b0c5b1f6f00",
        "time": "2026-11-22T01:59:30.123456789+00:00",
        "deviceInfo": {"tenantId": "t", "applicationId": "5f1c", "deviceProfileName": "LDDS75",
                       "devEui": dev_eui},
        "devAddr": "01020304", "fCnt": 42, "fPort": 2, "confirmed": False,
        "rxInfo": [{"gatewayId": "a", "rssi": -112, "snr": -3.5},
                   {"gatewayId": "b", "rssi": -97, "snr": 6.0}],
    }
    if data is not None:
        event["data"] = base64.b64encode(data).decode()
    if data_b64 is not None:
        event["data"] = data_b64
    event.update(fields)
    return orjson.dumps({k: v for k, v in event.items() if v is not None})


def parse(payload: bytes) -> SensorReading | None:
    return parse_uplink(payload, DEVICES, STATIONS, NOW)


# --- byte layouts


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (ldds75(3380, 3500), {"water_level_m": 1.5, "battery_v": 3.38}),
        (ldds75(3380, 280), {"water_level_m": 4.72, "battery_v": 3.38}),  # the closest valid distance
        (ldds75(3600, 5000, flags=0), {"water_level_m": 0.0, "battery_v": 3.6}),
        (ldds75(3000, 7500), {"water_level_m": -2.5, "battery_v": 3.0}),
        (ldds75(3380, 3500)[:4], {"water_level_m": 1.5, "battery_v": 3.38}),  # older 4-byte frames
        (bytes.fromhex("0D340DAC00001501"), {"water_level_m": 1.5, "battery_v": 3.38}),
    ],
)
def test_ldds75_layout(frame: bytes, expected: dict[str, float]) -> None:
    assert decode_ldds75(frame, LEVEL) == expected


@pytest.mark.parametrize(
    ("frame", "reason", "says"),
    [
        (ldds75(3380, 0), "sensor_fault", "no ultrasonic probe"),
        (ldds75(3380, 279), "sensor_fault", "blind zone"),
        (ldds75(3380, 7501), "sensor_fault", "7500"),
        (b"\x0d\x34\x0d", "bad_payload", "3 bytes"),
    ],
)
def test_ldds75_bad_frames(frame: bytes, reason: str, says: str) -> None:
    with pytest.raises(InvalidInput) as info:
        decode_ldds75(frame, LEVEL)
    assert info.value.reason == reason and says in info.value.detail


@pytest.mark.parametrize(
    ("frame", "profile", "expected"),
    [
        (bytes.fromhex("0E100000"), RAIN, {"rainfall_mm": 0.0, "battery_v": 3.6}),
        (bytes.fromhex("0E10000C"), RAIN, {"rainfall_mm": 2.4, "battery_v": 3.6}),
        (bytes.fromhex("0CE4FFFF"), RAIN, {"rainfall_mm": 13107.0, "battery_v": 3.3}),  # range check is later
        (bytes.fromhex("0E10000C"), DeviceProfile("x", "NS-01", "rain-pulses", mm_per_pulse=0.5),
         {"rainfall_mm": 6.0, "battery_v": 3.6}),
    ],
)
def test_rain_pulses_layout(frame: bytes, profile: DeviceProfile, expected: dict[str, float]) -> None:
    assert decode_rain_pulses(frame, profile) == expected


@pytest.mark.parametrize("frame", [b"", b"\x0e\x10\x00", b"\x0e\x10\x00\x0c\x00"])
def test_rain_pulses_wrong_length(frame: bytes) -> None:
    with pytest.raises(InvalidInput, match="bad_payload"):
        decode_rain_pulses(frame, RAIN)


def test_config_names_exactly_the_registered_decoders() -> None:
    assert set(typing.get_args(LorawanModel)) == set(DECODERS)
    assert all(d.layout for d in DECODERS.values())


# --- ChirpStack events


def test_raw_data_is_decoded_and_the_best_gateway_gives_the_signal() -> None:
    r = parse(uplink(data=ldds75(3380, 3500)))
    assert r is not None
    assert r.station_id == "NN-01" and r.source == "lorawan"
    assert r.observed_at == datetime(2026, 11, 22, 1, 59, 30, 123456, tzinfo=UTC)
    assert r.values == {"water_level_m": 1.5, "battery_v": 3.38, "signal_dbm": -97.0}


def test_server_decoded_object_is_used_when_present() -> None:
    obj = {"Bat": 3.41, "Distance": "3200 mm", "Interrupt_flag": 0, "TempC_DS18B20": "21.50",
           "Sensor_flag": 1}
    r = parse(uplink(data=ldds75(3380, 3500), object=obj))
    assert r is not None and r.values["water_level_m"] == 1.8 and r.values["battery_v"] == 3.41


def test_object_in_project_metric_names_is_used_for_any_model() -> None:
    r = parse(uplink(RAIN.dev_eui, object={"rainfall_mm": 1.4, "battery_v": 3.5}))
    assert r is not None and r.station_id == "NS-01" and r.values["rainfall_mm"] == 1.4


def test_object_without_known_values_falls_back_to_the_bytes() -> None:
    r = parse(uplink(RAIN.dev_eui, data=bytes.fromhex("0E100005"), object={"something": "else"}))
    assert r is not None and r.values["rainfall_mm"] == 1.0


def test_dev_eui_is_matched_whatever_its_case_and_time_may_be_absent() -> None:
    r = parse(uplink(LEVEL.dev_eui.upper(), data=ldds75(3380, 3500), time=None, rxInfo=None))
    assert r is not None and r.observed_at == NOW and "signal_dbm" not in r.values


def test_status_frame_is_not_a_reading() -> None:
    assert parse(uplink(data=b"\x03\x01\x01\x00\x0d\x34", fPort=5)) is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "malformed_json"),
        (b"[]", "malformed_json"),
        (uplink("0000000000000000", data=ldds75(3380, 3500)), "unknown_device"),
        (orjson.dumps({"fPort": 2, "data": "AAAA"}), "invalid_field"),
        (uplink(data=None), "bad_payload"),
        (uplink(data_b64="not base64!"), "bad_payload"),
        (uplink(data=ldds75(3380, 0)), "sensor_fault"),
        (uplink(data=ldds75(3380, 3500), fPort="2"), "invalid_field"),
        (uplink(data=ldds75(3380, 3500), time="yesterday"), "invalid_field"),
        (uplink(data=ldds75(3380, 3500), time="2026-11-22T01:59:30"), "invalid_field"),
        (uplink(data=ldds75(3380, 3500), time="2026-11-22T03:00:00Z"), "clock_skew"),
        (uplink(data=ldds75(3380, 3500), time="2026-10-01T00:00:00Z"), "clock_skew"),
        (uplink(RAIN.dev_eui, data=bytes.fromhex("0CE4FFFF")), "out_of_range"),
        (uplink(data=ldds75(3380, 3500), object={"Distance": "No Sensor", "Bat": 3.3}), "sensor_fault"),
    ],
)
def test_bad_uplinks_are_rejected_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse(payload)
    assert info.value.reason == reason, info.value.detail


def test_unknown_model_is_reported() -> None:
    devices = {LEVEL.dev_eui: DeviceProfile(LEVEL.dev_eui, "NN-01", "acme-9000")}
    with pytest.raises(InvalidInput) as info:
        parse_uplink(uplink(data=ldds75(3380, 3500)), devices, STATIONS, NOW)
    assert info.value.reason == "unknown_model"


def test_topic_gives_the_dev_eui() -> None:
    assert dev_eui_of_topic("application/1/device/A84041000181C061/event/up") == "a84041000181c061"
    assert dev_eui_of_topic("application/1/device/a84041000181c061/event/join") is None
    assert dev_eui_of_topic("ioc/muong-cha/flood/NS-01/up") is None


def test_handler_emits_a_reading_a_dead_letter_or_nothing() -> None:
    out: list[Event] = []
    handler = UplinkHandler(DEVICES, STATIONS, out.append)
    now_ts = datetime.now(UTC).isoformat()
    handler(TOPIC, uplink(data=ldds75(3380, 3500), time=now_ts))
    handler(TOPIC, b"{oops")
    handler(TOPIC, uplink(data=b"\x03", fPort=5))
    handler("application/5f1c/device/x/event/join", b"{}")
    assert [type(e) for e in out] == [SensorReading, DeadLetter, DeadLetter]
    assert isinstance(out[1], DeadLetter) and out[1].source == f"lorawan:{TOPIC}"
    assert out[1].reason == "malformed_json"
    assert isinstance(out[2], DeadLetter) and out[2].reason == "bad_topic"
    assert (handler.counts.accepted, handler.counts.rejected, handler.counts.skipped) == (1, 2, 1)


def test_sample_site_maps_its_lorawan_device() -> None:
    site = load_site("configs/muong-cha")
    devices = device_profiles(site.flood_stations)
    expected = DeviceProfile("a84041000181c061", "NN-01", "dragino-ldds75", 5.0, 0.2)
    assert devices["a84041000181c061"] == expected


def test_uplink_a_little_in_the_future_is_accepted() -> None:
    ts = (NOW + timedelta(minutes=5)).isoformat()
    assert parse(uplink(data=ldds75(3380, 3500), time=ts)) is not None


def test_lorawan_command_needs_a_lorawan_station(tmp_path: Any) -> None:
    import shutil

    from typer.testing import CliRunner

    from ioc.app.cli.ingest import app as cli

    site = tmp_path / "site"
    shutil.copytree("configs/muong-cha", site)
    stations = site / "stations.yaml"
    text = stations.read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if "lorawan:" not in line]
    stations.write_text("\n".join(kept) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["lorawan", "--site", str(site), "--lang", "en"])
    assert result.exit_code == 1 and "no LoRaWAN station" in result.output
