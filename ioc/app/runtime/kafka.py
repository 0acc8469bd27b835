"""The one producer that owns writing to Kafka from plain (non-Faust) processes such as ``ioc ingest mqtt``.

The producer is librdkafka's; topics are created with kafka-python's admin client, and a test's or benchmark's
namespace is deleted with librdkafka's. Their errors are translated to ``SinkUnavailable`` here; events go to the
topic of their type, keyed by their partition key, with ``acks=all`` so an acknowledged event survives a broker
restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import Producer as ConfluentProducer
from confluent_kafka.admin import AdminClient
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError as KafkaPythonError
from kafka.errors import TopicAlreadyExistsError

from ioc import topics
from ioc.errors import SinkUnavailable
from ioc.events import Event

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaAuth:
    """A SASL/PLAIN user of the brokers, over ``SASL_PLAINTEXT``; ``repr`` hides the password."""

    username: str
    password: str = field(repr=False)
    mechanism: str = "PLAIN"

    def client_options(self) -> dict[str, Any]:
        """The kafka-python (and aiokafka) keyword arguments that log in as this user."""
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }


def client_options(auth: KafkaAuth | None) -> dict[str, Any]:
    """kafka-python keyword arguments: the SASL login of ``auth``, or none for a PLAINTEXT broker."""
    return {} if auth is None else auth.client_options()


def librdkafka_options(auth: KafkaAuth | None) -> dict[str, str]:
    """librdkafka (``confluent-kafka``) settings that log in as ``auth``, or none for a PLAINTEXT broker."""
    if auth is None:
        return {}
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": auth.mechanism,
            "sasl.username": auth.username, "sasl.password": auth.password}


class EventProducer:
    """Send events to Kafka, to the topic their type belongs on.

    librdkafka (``confluent-kafka``) does the work in C: batching, compression, retries and the idempotent
    producer (in order, no duplicates when a request is retried), at about a tenth of kafka-python's CPU per
    message. Delivery reports are served by ``poll`` on each send and by ``flush``.
    """

    def __init__(
        self, bootstrap: str, *, auth: KafkaAuth | None = None, client_id: str = "ioc", linger_ms: int = 5,
        namespace: str = "",
    ) -> None:
        self._producer = ConfluentProducer({
            **librdkafka_options(auth),
            "bootstrap.servers": bootstrap, "client.id": client_id, "acks": "all", "linger.ms": linger_ms,
            "enable.idempotence": True,
            # Java's (and aiokafka's) partitioner, not librdkafka's CRC32 default: a key must land on the
            # partition the Faust workers and their ticks (faust_app.partition_of) expect it on.
            "partitioner": "murmur2_random",
            # A send is retried until this (2 min), so a broker restart is waited out.
            "delivery.timeout.ms": 120_000,
            "logger": logging.getLogger("ioc.kafka.producer"),
        })
        try:  # as kafka-python did: no broker at start is a clear error, not a silent queue
            self._producer.list_topics(timeout=10)
        except KafkaException as exc:
            raise SinkUnavailable(f"no Kafka broker answers at {bootstrap}: {exc}") from exc
        self._bootstrap = bootstrap
        self._namespace = namespace
        self._failed: list[str] = []  # delivery errors since the last flush
        self._lock = threading.Lock()

    def _delivered(self, err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            with self._lock:
                self._failed.append(str(err))

    def send(self, event: Event) -> None:
        """Queue an event for sending (asynchronous; ``flush`` waits for every acknowledgement)."""
        topic = topics.for_event(event).kafka_name(self._namespace)
        deadline = time.monotonic() + 30
        while True:
            try:
                self._producer.produce(topic, key=event.key().encode(), value=event.to_bytes(),
                                       on_delivery=self._delivered)
                break
            except BufferError:  # the local queue is full: wait for the broker to take some
                if time.monotonic() > deadline:
                    raise SinkUnavailable(f"Kafka has taken nothing for 30 s; {topic} not sent") from None
                self._producer.poll(0.05)
            except KafkaException as exc:
                raise SinkUnavailable(f"Kafka refused an event for {topic}: {exc}") from exc
        self._producer.poll(0)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every event sent so far is acknowledged; raise SinkUnavailable if any was not."""
        pending = self._producer.flush(timeout)
        with self._lock:
            failed, self._failed = self._failed, []
        if pending:
            raise SinkUnavailable(f"Kafka has not acknowledged {pending} events yet")
        if failed:
            raise SinkUnavailable(f"Kafka did not take {len(failed)} events: {failed[0]}")

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued (up to ``timeout``) and let go of the producer."""
        self._producer.flush(timeout)


def ensure_topics(bootstrap: str, wanted: tuple[topics.Topic, ...] = topics.ALL, replication: int = 1,
                  compacted: dict[str, int] | None = None, *, auth: KafkaAuth | None = None,
                  namespace: str = "") -> list[str]:
    """Create any missing topic with its declared partition count; return the names created.

    ``compacted`` names extra log-compacted topics (Faust table changelogs) and their partition counts: creating
    them before the worker starts avoids a race on a fresh broker, where Faust saw the changelog with 0 partitions
    and its agent crashed in a loop.
    """
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ioc-admin", **client_options(auth))
    except KafkaPythonError as exc:
        raise SinkUnavailable(f"no Kafka broker answers at {bootstrap}") from exc
    try:
        existing = set(admin.list_topics())
        specs: list[tuple[str, int, dict[str, str]]] = [(t.kafka_name(namespace), t.partitions, {}) for t in wanted]
        specs += [(name, n, {"cleanup.policy": "compact"}) for name, n in (compacted or {}).items()]
        created = []
        for name, partitions, configs in specs:
            if name in existing:
                continue
            try:
                admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=replication,
                                              topic_configs=configs)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        return created
    except KafkaPythonError as exc:
        raise SinkUnavailable(f"cannot create Kafka topics: {exc}") from exc
    finally:
        admin.close()


def namespace_topics(names: Iterable[str], namespace: str) -> list[str]:
    """Return the topics among ``names`` that belong to ``namespace``: its event topics and its workers'."""
    if not namespace:
        raise ValueError("no namespace given: the topics without one are the deployment's own")
    prefixes = (f"{namespace}.ioc.", f"{namespace}-ioc-")  # topics.Topic.kafka_name, faust_app.app_id
    return sorted(n for n in names if n.startswith(prefixes))


def drop_namespace(bootstrap: str, namespace: str, *, auth: KafkaAuth | None = None,
                   timeout_s: float = 30.0, strict: bool = True) -> list[str]:
    """Delete every topic and consumer group of ``namespace`` (a test's or a benchmark's); return the topics.

    Namespaces isolate tests and benchmarks on one broker. Left behind, their topics pile up (thousands of
    partitions after some days of test runs) and a restarted broker spends minutes loading their logs.
    ``strict`` False: a broker that does not answer is logged, not raised (a benchmark's figures still count).
    """
    try:
        return _drop_namespace(bootstrap, namespace, auth, timeout_s)
    except SinkUnavailable as exc:
        if strict:
            raise
        logger.warning("%s", exc)
        return []


def _drop_namespace(bootstrap: str, namespace: str, auth: KafkaAuth | None, timeout_s: float) -> list[str]:
    config: dict[str, Any] = {**librdkafka_options(auth), "bootstrap.servers": bootstrap, "client.id": "ioc-admin",
                              "logger": logging.getLogger("ioc.kafka.admin")}
    admin = AdminClient(config)
    try:
        names = namespace_topics(admin.list_topics(timeout=timeout_s).topics, namespace)
        listed = admin.list_consumer_groups(request_timeout=timeout_s).result(timeout=timeout_s)
        groups = [g.group_id for g in listed.valid if g.group_id.startswith(f"{namespace}-ioc-")]
        futures = {**(admin.delete_topics(names, operation_timeout=timeout_s) if names else {}),
                   **(admin.delete_consumer_groups(groups, request_timeout=timeout_s) if groups else {})}
        for name, future in futures.items():
            try:
                future.result(timeout=timeout_s)
            except KafkaException as exc:
                if exc.args[0].code() not in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.GROUP_ID_NOT_FOUND,
                                              KafkaError.NON_EMPTY_GROUP):
                    raise
                logger.debug("%s not deleted: %s", name, exc)
    except (KafkaException, TimeoutError) as exc:
        raise SinkUnavailable(f"namespace {namespace} not deleted from {bootstrap}: {exc}") from exc
    return names
