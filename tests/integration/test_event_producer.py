"""The librdkafka producer of the plain processes: keys on the partitions the Faust workers expect, every event
acknowledged by flush, and a clear error when no broker answers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kafka import KafkaConsumer

from ioc import topics
from ioc.app.endpoints import Endpoints
from ioc.app.runtime.faust_app import partition_of
from ioc.app.runtime.kafka import EventProducer, client_options, ensure_topics
from ioc.errors import SinkUnavailable
from ioc.events import SensorReading, decode, utcnow

pytestmark = pytest.mark.services


def test_events_land_on_the_partition_of_their_key_once_each(endpoints: Endpoints,
                                                             kafka_namespace: Callable[[str], str]) -> None:
    namespace = kafka_namespace("prod")
    ensure_topics(endpoints.kafka_bootstrap, auth=endpoints.kafka_auth, namespace=namespace)
    producer = EventProducer(endpoints.kafka_bootstrap, auth=endpoints.kafka_auth, namespace=namespace)
    sent = [SensorReading.create(f"ST-{i:03d}", utcnow(), {"water_level_m": i / 100}, source="test")
            for i in range(300)]
    for reading in sent:
        producer.send(reading)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(topics.SENSOR_READINGS.kafka_name(namespace), bootstrap_servers=endpoints.kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000,
                             **client_options(endpoints.kafka_auth))
    got = {}
    for record in consumer:
        event = decode(record.value)
        assert isinstance(event, SensorReading)
        assert record.partition == partition_of(event.station_id, topics.SENSOR_READINGS.partitions)
        assert event.event_id not in got
        got[event.event_id] = event
        if len(got) == len(sent):
            break
    consumer.close()
    assert set(got) == {r.event_id for r in sent}


def test_no_broker_is_a_clear_error() -> None:
    with pytest.raises(SinkUnavailable, match=r"no Kafka broker answers at 127\.0\.0\.1:1"):
        EventProducer("127.0.0.1:1")
