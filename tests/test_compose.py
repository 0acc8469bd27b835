"""docker-compose.yml parses, runs every process, and carries no default password."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ioc.processes import ONE_SHOT, PROCESSES

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def load() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_every_process_is_a_service_with_its_command() -> None:
    services = load()["services"]
    for name, argv in {**PROCESSES, **ONE_SHOT}.items():
        assert name in services, f"{name} missing from docker-compose.yml"
        command = services[name]["command"]
        assert tuple(command[: len(argv)]) == argv, f"{name} runs {command}, expected ioc {' '.join(argv)}"


def test_infrastructure_services_are_there() -> None:
    services = load()["services"]
    assert {"kafka", "timescaledb", "redis", "mosquitto"} <= set(services)
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb:2.")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_images_are_pinned() -> None:
    for name, svc in load()["services"].items():
        image = svc.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name} image {image!r} is not pinned"


def test_no_default_passwords() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    keys = list(re.finditer(r"^\s*[A-Z_]*(PASSWORD|SECRET)[A-Z_]*:\s*(\S+)", text, re.MULTILINE))
    assert len(keys) >= 4
    for match in keys:
        value = match.group(2)
        assert value.startswith("${") and ":?" in value, f"{match.group(0)!r} must come from the environment"
    for url in re.findall(r"\w+://[^\s\"]*@", text):
        assert "${" in url and ":?" in url, f"credentials in {url!r} must come from the environment"
    assert "allow_anonymous false" in (COMPOSE.parent / "deploy/mosquitto/mosquitto.conf").read_text()


def test_processes_depend_on_a_finished_migration() -> None:
    services = load()["services"]
    for name in PROCESSES:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
