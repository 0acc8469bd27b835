"""The one producer that owns writing to Kafka from plain (non-Faust) processes such as ``ioc ingest mqtt``.

kafka-python's errors are translated to ``SinkUnavailable`` here; events go to the topic of their type, keyed by
their partition key, with ``acks=all`` so an acknowledged event survives a broker restart.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

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


class EventProducer:
    """Send events to Kafka, to the topic their type belongs on."""

    def __init__(
        self, bootstrap: str, *, auth: KafkaAuth | None = None, client_id: str = "ioc", linger_ms: int = 5,
        namespace: str = "",
    ) -> None:
        try:
            self._producer = KafkaProducer(
                **client_options(auth),
                bootstrap_servers=bootstrap, client_id=client_id, acks="all", linger_ms=linger_ms,
                # No retry count: a send is retried until delivery_timeout_ms (2 min), so a broker restart is
                # waited out; retries=5 gave up within a second of the broker going away.
                max_in_flight_requests_per_connection=1, compression_type=None,
                batch_size=64 * 1024,
            )
        except KafkaError as exc:
            raise SinkUnavailable(f"no Kafka broker answers at {bootstrap}") from exc
        self._bootstrap = bootstrap
        self._namespace = namespace
        self._unconfirmed: list[Any] = []  # the futures of sends since the last flush
        self._lock = threading.Lock()

    def send(self, event: Event) -> None:
        """Queue an event for sending (asynchronous; ``flush`` waits for every acknowledgement)."""
        topic = topics.for_event(event)
        try:
            future = self._producer.send(
                topic.kafka_name(self._namespace), key=event.key().encode(), value=event.to_bytes()
            )
        except KafkaError as exc:
            raise SinkUnavailable(f"Kafka refused an event for {topic.kafka_name(self._namespace)}: {exc}") from exc
        with self._lock:
            self._unconfirmed.append(future)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every event sent so far is acknowledged; raise SinkUnavailable if any was not."""
        with self._lock:
            waiting, self._unconfirmed = self._unconfirmed, []
        try:
            self._producer.flush(timeout=timeout)
        except KafkaError as exc:
            with self._lock:
                self._unconfirmed[:0] = [f for f in waiting if not f.is_done]
            raise SinkUnavailable(f"Kafka did not acknowledge queued events: {exc}") from exc
        failed = [f for f in waiting if f.is_done and f.failed()]
        pending = [f for f in waiting if not f.is_done]
        if pending:
            with self._lock:
                self._unconfirmed[:0] = pending
            raise SinkUnavailable(f"Kafka has not acknowledged {len(pending)} events yet")
        if failed:
            raise SinkUnavailable(f"Kafka did not take {len(failed)} events: {failed[0].exception}")

    def close(self, timeout: float = 10.0) -> None:
        """Flush and close."""
        self._producer.close(timeout=timeout)


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
    except KafkaError as exc:
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
    except KafkaError as exc:
        raise SinkUnavailable(f"cannot create Kafka topics: {exc}") from exc
    finally:
        admin.close()
