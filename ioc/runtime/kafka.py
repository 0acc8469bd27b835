"""The one producer that owns writing to Kafka from plain (non-Faust) processes such as ``ioc ingest mqtt``.

kafka-python's errors are translated to ``SinkUnavailable`` here; events go to the topic of their type, keyed by
their partition key, with ``acks=all`` so an acknowledged event survives a broker restart.
"""

from __future__ import annotations

import logging

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from ioc import topics
from ioc.errors import SinkUnavailable
from ioc.events import Event

logger = logging.getLogger(__name__)


class EventProducer:
    """Send events to Kafka, to the topic their type belongs on."""

    def __init__(self, bootstrap: str, *, client_id: str = "ioc", linger_ms: int = 5) -> None:
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap, client_id=client_id, acks="all", linger_ms=linger_ms,
                retries=5, max_in_flight_requests_per_connection=1, compression_type=None,
                batch_size=64 * 1024,
            )
        except KafkaError as exc:
            raise SinkUnavailable(f"no Kafka broker answers at {bootstrap}") from exc
        self._bootstrap = bootstrap

    def send(self, event: Event) -> None:
        """Queue an event for sending (asynchronous; ``flush`` waits for every acknowledgement)."""
        topic = topics.for_event(event)
        try:
            self._producer.send(topic.kafka_name, key=event.key().encode(), value=event.to_bytes())
        except KafkaError as exc:
            raise SinkUnavailable(f"Kafka refused an event for {topic.kafka_name}: {exc}") from exc

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued event is acknowledged by the broker."""
        try:
            self._producer.flush(timeout=timeout)
        except KafkaError as exc:
            raise SinkUnavailable(f"Kafka did not acknowledge queued events: {exc}") from exc

    def close(self, timeout: float = 10.0) -> None:
        """Flush and close."""
        self._producer.close(timeout=timeout)


def ensure_topics(bootstrap: str, wanted: tuple[topics.Topic, ...] = topics.ALL, replication: int = 1) -> list[str]:
    """Create any missing topic with its declared partition count; return the names created."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ioc-admin")
    except KafkaError as exc:
        raise SinkUnavailable(f"no Kafka broker answers at {bootstrap}") from exc
    try:
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t.kafka_name not in existing]
        created = []
        for t in missing:
            try:
                admin.create_topics([NewTopic(t.kafka_name, num_partitions=t.partitions, replication_factor=replication)])
                created.append(t.kafka_name)
            except TopicAlreadyExistsError:
                pass
        return created
    except KafkaError as exc:
        raise SinkUnavailable(f"cannot create Kafka topics: {exc}") from exc
    finally:
        admin.close()
