"""Where this process connects to Kafka, PostgreSQL, Redis and MQTT: production first, development as
fallback.

The production endpoints come from ``Settings.production`` (``IOC_KAFKA_BOOTSTRAP``, ``IOC_DATABASE_URL``,
...). Only what is left unset is taken from the development services (``ioc.app.services``: loopback ports,
generated credentials); a deployment that sets every endpoint never touches them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.mqtt import MqttTls
from ioc.app.runtime.kafka import KafkaAuth
from ioc.app.services.manager import local_endpoints
from ioc.settings import Production, Settings


@dataclass(frozen=True)
class Endpoints:
    """Where the rest of the project connects, with which credentials.

    ``postgres_dsn`` is the application role's (workers, the wall); ``postgres_owner_dsn`` the schema owner's
    (migrations, creating databases). ``kafka_namespace`` prefixes every topic name (isolated tests, benches).
    ``repr`` leaves the secrets out.
    """

    kafka_bootstrap: str
    postgres_dsn: str = field(repr=False)
    redis_url: str = field(repr=False)
    mqtt_host: str
    mqtt_port: int
    postgres_owner_dsn: str = field(default="", repr=False)
    mqtt_username: str | None = None
    mqtt_password: str | None = field(default=None, repr=False)
    mqtt_tls: MqttTls | None = None
    kafka_auth: KafkaAuth | None = field(default=None, repr=False)
    kafka_namespace: str = ""


def endpoints(settings: Settings) -> Endpoints:
    """The production endpoints of ``settings``, each unset one from the local development services.

    ``IOC_DATABASE_OWNER_URL`` defaults to ``IOC_DATABASE_URL`` when only that is set. Kafka logs in with SASL
    as ``IOC_KAFKA_USERNAME``/``IOC_KAFKA_PASSWORD`` when both are set, else as the local broker's generated
    user; an ``IOC_KAFKA_BOOTSTRAP`` without a username is a PLAINTEXT broker.
    """
    prod = settings.production
    if prod.complete:
        assert (
            prod.kafka_bootstrap
            and prod.database_url
            and prod.redis_url
            and prod.mqtt_host
            and prod.mqtt_port
        )
        return Endpoints(
            kafka_bootstrap=prod.kafka_bootstrap,
            postgres_dsn=prod.database_url,
            postgres_owner_dsn=prod.database_owner_url or prod.database_url,
            redis_url=prod.redis_url,
            mqtt_host=prod.mqtt_host,
            mqtt_port=prod.mqtt_port,
            mqtt_username=prod.mqtt_username,
            mqtt_password=prod.mqtt_password,
            mqtt_tls=_mqtt_tls(prod),
            kafka_auth=_kafka_auth(prod, None),
            kafka_namespace=settings.kafka_namespace,
        )
    local = local_endpoints(settings.env)
    return Endpoints(
        kafka_bootstrap=prod.kafka_bootstrap or local.kafka_bootstrap,
        postgres_dsn=prod.database_url or local.postgres_dsn,
        postgres_owner_dsn=prod.database_owner_url or prod.database_url or local.postgres_owner_dsn,
        redis_url=prod.redis_url or local.redis_url,
        mqtt_host=prod.mqtt_host or local.mqtt_host,
        mqtt_port=prod.mqtt_port or local.mqtt_port,
        mqtt_username=prod.mqtt_username or local.mqtt_username,
        mqtt_password=prod.mqtt_password or local.mqtt_password,
        mqtt_tls=_mqtt_tls(prod),
        kafka_auth=_kafka_auth(prod, local.kafka_auth),
        kafka_namespace=settings.kafka_namespace,
    )


def _kafka_auth(prod: Production, local: KafkaAuth | None) -> KafkaAuth | None:
    if prod.kafka_username and prod.kafka_password:
        return KafkaAuth(prod.kafka_username, prod.kafka_password, mechanism=prod.kafka_sasl_mechanism)
    return None if prod.kafka_bootstrap else local


def _mqtt_tls(prod: Production) -> MqttTls | None:
    """TLS to the broker when ``IOC_MQTT_CA_FILE`` (or ``IOC_MQTT_TLS=1`` for the system CAs) is set."""
    if prod.mqtt_ca_file is None and not prod.mqtt_tls:
        return None
    return MqttTls(
        ca_file=prod.mqtt_ca_file,
        cert_file=prod.mqtt_cert_file,
        key_file=prod.mqtt_key_file,
        verify=prod.mqtt_tls_verify,
    )
