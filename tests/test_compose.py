"""docker-compose.yml parses, runs every process, and carries no default password."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ioc.app.processes import ONE_SHOT, PROCESSES

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


def test_kafka_asks_every_client_for_a_login() -> None:
    """Issue 12: the broker's listeners were PLAINTEXT; the ioc processes now log in with SASL/PLAIN."""
    compose = load()
    kafka = compose["services"]["kafka"]["environment"]
    assert kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] == "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
    assert "CONTROLLER" not in kafka["KAFKA_ADVERTISED_LISTENERS"]
    for listener in ("CLIENT", "CONTROLLER"):
        jaas = kafka[f"KAFKA_LISTENER_NAME_{listener}_PLAIN_SASL_JAAS_CONFIG"]
        assert 'user_ioc="${IOC_KAFKA_PASSWORD:?' in jaas
    env = compose["x-ioc"]["environment"]
    assert env["IOC_KAFKA_USERNAME"] == "ioc"
    assert env["IOC_KAFKA_PASSWORD"].startswith("${IOC_KAFKA_PASSWORD:?")


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


def published_ports(service: dict) -> list[str]:  # type: ignore[type-arg]
    """The host side of every published port of a service ("8883:8883" -> "8883")."""
    return [str(p).rsplit(":", 1)[0] if ":" in str(p) else str(p) for p in service.get("ports", [])]


def test_only_tls_ports_are_published() -> None:
    """Issue 12, hole 7: 8050, 8090, 8091 and 1883 were published on 0.0.0.0 without TLS."""
    published = {name: published_ports(svc) for name, svc in load()["services"].items() if svc.get("ports")}

    assert published == {"mosquitto": ["8883"], "proxy": ["443"]}
    assert load()["services"]["proxy"]["image"].startswith("nginx:1.")
    proxy = (COMPOSE.parent / "deploy/nginx/ioc.conf").read_text()
    assert "listen 443 ssl;" in proxy and not re.search(r"listen\s+80\b", proxy)
    for upstream in ("http://dashboard:8050", "http://ingest-webhook:8091", "http://notify-callbacks:8090"):
        assert upstream in proxy
    mosquitto = (COMPOSE.parent / "deploy/mosquitto/mosquitto.conf").read_text().splitlines()
    assert [line for line in mosquitto if line.startswith("listener")] == ["listener 8883"]
    assert {"certfile /mosquitto/certs/server.crt", "keyfile /mosquitto/certs/server.key",
            "acl_file /mosquitto/config/acl", "password_file /mosquitto/config/passwd"} <= set(mosquitto)


def test_the_wall_sets_secure_cookies_and_processes_use_tls_mqtt_as_the_ingest_user() -> None:
    services = load()["services"]
    env = services["dashboard"]["environment"]

    assert env["IOC_COOKIE_SECURE"] == "1"
    assert (env["IOC_MQTT_PORT"], env["IOC_MQTT_CA_FILE"], env["IOC_MQTT_USERNAME"]) == (
        "8883", "/run/ioc/mqtt-ca.crt", "ioc-ingest")


def test_every_service_needing_credentials_gets_them_from_the_environment() -> None:
    services = load()["services"]
    app_role = "postgresql://ioc:${IOC_DB_PASSWORD:?"
    owner = "postgresql://ioc_owner:${IOC_DB_OWNER_PASSWORD:?"
    for name in PROCESSES:
        env = services[name].get("environment") or {}
        url = env["IOC_DATABASE_URL"]
        # Migrations and the writer's TimescaleDB maintenance need the owner; every other process the app role.
        assert url.startswith(owner if name == "worker-writer" else app_role), f"{name}: {url}"
        assert env["IOC_REDIS_URL"].startswith("redis://:${IOC_REDIS_PASSWORD:?")
        assert env["IOC_MQTT_PASSWORD"].startswith("${IOC_MQTT_INGEST_PASSWORD:?")
    assert services["migrate"]["environment"]["IOC_DATABASE_URL"].startswith(owner)
    db = services["timescaledb"]["environment"]
    assert db["POSTGRES_USER"] == "postgres" and "scram-sha-256" in db["POSTGRES_INITDB_ARGS"]
    assert all(db[k].startswith("${") for k in ("POSTGRES_PASSWORD", "IOC_DB_OWNER_PASSWORD", "IOC_DB_PASSWORD"))
    assert "--requirepass" in services["redis"]["command"]
    roles = (COMPOSE.parent / "deploy/postgres/10-ioc-roles.sh").read_text()
    assert "CREATE ROLE ioc LOGIN NOSUPERUSER" in roles and "SUPERUSER PASSWORD" not in roles
