"""``ioc ingest mqtt``: flood station messages from an MQTT broker, validated, onto the event stream.

Every message ends as exactly one event: a ``SensorReading`` when it is valid, a ``DeadLetter`` with its reason
when it is not. A bad message never stops the loop. paho-mqtt reconnects with backoff by itself; the subscription
is QoS 1 with a persistent session, so the broker keeps messages while this worker restarts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.flood import FloodTopics, StationLimits, parse_records
from ioc.errors import InvalidInput, SinkUnavailable
from ioc.events import DeadLetter, Event, utcnow

logger = logging.getLogger(__name__)

Emit = Callable[[Event], None]


@dataclass(frozen=True)
class MqttTls:
    """TLS to the broker: the CA that signed its certificate, an optional client certificate, whether to verify."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True


@dataclass
class IngestCounts:
    """Running totals, for logs and the benchmark."""

    accepted: int = 0
    rejected: int = 0


class FloodMessageHandler:
    """Turn one raw station message into its events (one, or one per record of a logger's array) for ``emit``."""

    def __init__(self, scheme: FloodTopics, stations: Mapping[str, StationLimits], emit: Emit,
                 source: str = "mqtt") -> None:
        self.scheme = scheme
        self.stations = stations
        self.emit = emit
        self.source = source
        self.counts = IngestCounts()

    def __call__(self, topic: str, payload: bytes) -> list[Event]:
        """Validate and emit; return the events emitted, in the message's order."""
        received = utcnow()
        events: list[Event] = []
        try:
            records = parse_records(topic, payload, self.scheme, self.stations, received, source=self.source)
        except InvalidInput as exc:
            records = [(exc, payload)]
        for outcome, raw in records:
            if isinstance(outcome, InvalidInput):
                logger.warning("rejected message on %s: %s", topic, outcome)
                events.append(DeadLetter.of(f"{self.source}:{topic}", raw, outcome, received))
                self.counts.rejected += 1
            else:
                events.append(outcome)
                self.counts.accepted += 1
        for event in events:
            self.emit(event)
        return events


class MqttIngest:
    """The one MQTT adapter: subscribe to a topic filter and pass every message to a handler.

    Used for flood stations (``FloodMessageHandler``) and ChirpStack uplinks alike; ``failed`` counts messages the
    handler could not pass on.
    """

    def __init__(self, host: str, port: int, handler: Callable[[str, bytes], object], *,
                 subscription: str,
                 client_id: str = "ioc-ingest-mqtt", qos: int = 1, username: str | None = None,
                 password: str | None = None, confirm: Callable[[], None] | None = None,
                 tls: MqttTls | None = None) -> None:
        self.host = host
        self.port = port
        self.handler = handler
        self.subscription = subscription
        self.qos = qos
        self.failed = 0
        self.connected = threading.Event()
        # With ``confirm`` (the producer's flush), a message is acknowledged to the broker only once what
        # the handler emitted for it is confirmed: a crash before then leaves it with the broker, which
        # delivers it again to the persistent session. Without, paho acknowledges when the handler returns.
        self._confirm = confirm
        self._unacked: list[tuple[int, int]] = []
        self._unacked_lock = threading.Lock()
        self._stopping = threading.Event()
        self._arrived = threading.Event()
        self._acker: threading.Thread | None = None
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
            manual_ack=confirm is not None,
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        if username:
            self._client.username_pw_set(username, password)
        if tls is not None:
            self._client.tls_set(ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file)
            # Only for a test broker with a self-made certificate: skips the host name check, not the chain.
            self._client.tls_insecure_set(not tls.verify)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object, reason: object,
                    _props: object = None) -> None:
        if getattr(reason, "is_failure", False):
            logger.error("MQTT broker %s:%s refused the connection: %s", self.host, self.port, reason)
            return
        client.subscribe(self.subscription, qos=self.qos)
        logger.info("subscribed to %s on %s:%s", self.subscription, self.host, self.port)
        self.connected.set()

    def _on_disconnect(self, _client: mqtt.Client, _userdata: object, _flags: object, reason: object,
                       _props: object = None) -> None:
        self.connected.clear()
        logger.warning("MQTT disconnected (%s); paho reconnects with backoff", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            self.handler(msg.topic, bytes(msg.payload))
        except SinkUnavailable as exc:
            self.failed += 1
            logger.error("could not pass on a message from %s: %s", msg.topic, exc)
        except Exception:  # the worker's outer edge: one message must never stop the loop
            self.failed += 1
            logger.exception("unexpected error on a message from %s", msg.topic)
        if self._confirm is not None:
            with self._unacked_lock:
                self._unacked.append((msg.mid, msg.qos))
            self._arrived.set()

    def _acknowledge(self) -> None:
        """Acknowledge received messages to the broker once the events they became are confirmed."""
        assert self._confirm is not None
        # Woken by each arrival rather than on a timer: the broker sends a client no more than its in-flight
        # window (20 by default) of unacknowledged messages, so the time to acknowledge bounds the throughput.
        while not self._stopping.is_set():
            if not self._arrived.wait(0.5):
                continue
            self._arrived.clear()
            with self._unacked_lock:
                batch, self._unacked = self._unacked, []
            if not batch:
                continue
            try:
                self._confirm()
            except SinkUnavailable as exc:
                # Not acknowledged: the broker keeps them (and sends no more than its in-flight window); the
                # producer keeps retrying what it holds.
                logger.warning("%d messages wait for Kafka before they are acknowledged: %s", len(batch), exc)
                with self._unacked_lock:
                    self._unacked[:0] = batch
                self._arrived.set()
                self._stopping.wait(1.0)
                continue
            for mid, qos in batch:
                if qos > 0:
                    self._client.ack(mid, qos)

    def start(self) -> None:
        """Connect and run the network loop in a background thread."""
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if self._confirm is not None:
            self._acker = threading.Thread(target=self._acknowledge, name="mqtt-ack", daemon=True)
            self._acker.start()

    def wait_connected(self, timeout: float = 15.0) -> bool:
        """Wait until subscribed; return False on timeout."""
        return self.connected.wait(timeout)

    def stop(self) -> None:
        """Acknowledge what is confirmed, disconnect and stop the network loop."""
        self._stopping.set()
        self._arrived.set()
        if self._acker is not None:
            self._acker.join(5)
            with self._unacked_lock:
                batch, self._unacked = self._unacked, []
            try:
                if batch and self._confirm is not None:
                    self._confirm()
                    for mid, qos in batch:
                        if qos > 0:
                            self._client.ack(mid, qos)
            except SinkUnavailable as exc:  # left with the broker, delivered again after the restart
                logger.warning("%d messages left unacknowledged at stop: %s", len(batch), exc)
        self._client.disconnect()
        self._client.loop_stop()
