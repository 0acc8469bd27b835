"""A test's or benchmark's Kafka namespace is deleted whole after it, and nothing of another namespace with it."""

from __future__ import annotations

import time
import uuid

import pytest
from kafka.admin import KafkaAdminClient

from ioc import topics
from ioc.app.endpoints import Endpoints
from ioc.app.runtime.faust_app import app_id
from ioc.app.runtime.kafka import client_options, drop_namespace, ensure_topics, namespace_topics
from ioc.errors import SinkUnavailable


def test_a_namespace_holds_its_event_topics_and_its_workers_topics_only() -> None:
    names = ["ioc.alerts", "ns1.ioc.alerts", "ns1-ioc-flood-__assignor-__leader", "ns12.ioc.alerts",
             "ns12-ioc-flood-table-changelog", "ns1.other", "ns1-iocx", "__consumer_offsets"]
    assert namespace_topics(names, "ns1") == ["ns1-ioc-flood-__assignor-__leader", "ns1.ioc.alerts"]
    with pytest.raises(ValueError, match="no namespace"):
        namespace_topics(names, "")  # the deployment's own topics are never a namespace's


@pytest.mark.services
def test_drop_namespace_deletes_its_topics_and_leaves_a_longer_namesake(endpoints: Endpoints) -> None:
    ns = f"drop{uuid.uuid4().hex[:8]}"
    namesake = f"{ns}b"  # as the alerts bench's second namespace is named
    for name in (ns, namesake):
        ensure_topics(endpoints.kafka_bootstrap, (topics.ALERTS, topics.SENSOR_READINGS), auth=endpoints.kafka_auth,
                      namespace=name, compacted={f"{app_id('flood', name)}-state-changelog": 1})
    dropped = drop_namespace(endpoints.kafka_bootstrap, ns, auth=endpoints.kafka_auth)
    assert dropped == sorted([f"{app_id('flood', ns)}-state-changelog", topics.ALERTS.kafka_name(ns),
                              topics.SENSOR_READINGS.kafka_name(ns)])
    admin = KafkaAdminClient(bootstrap_servers=endpoints.kafka_bootstrap, **client_options(endpoints.kafka_auth))
    deadline = time.monotonic() + 30  # the controller has deleted them; the broker's metadata follows shortly
    try:
        while (left := set(admin.list_topics())) & set(dropped) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        admin.close()
    assert not left & set(dropped)
    assert topics.ALERTS.kafka_name(namesake) in left
    assert drop_namespace(endpoints.kafka_bootstrap, namesake, auth=endpoints.kafka_auth)
    assert drop_namespace(endpoints.kafka_bootstrap, namesake, auth=endpoints.kafka_auth) == []  # idempotent


def test_no_broker_is_a_clear_error_or_a_warning() -> None:
    with pytest.raises(SinkUnavailable, match="not deleted"):
        drop_namespace("127.0.0.1:1", "gone", timeout_s=2)
    assert drop_namespace("127.0.0.1:1", "gone", timeout_s=2, strict=False) == []
