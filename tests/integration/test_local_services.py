"""Local services against the real binaries: Mosquitto, tansu, PostgreSQL/TimescaleDB."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from paho.mqtt.enums import CallbackAPIVersion

from greenmon.local.manager import ServiceStatus, services_down, services_status, services_up
from greenmon.local.mosquitto import AUTOSAVE_CHANGES, MqttTls, render_mosquitto_conf
from greenmon.local.ports import free_port
from greenmon.local.postgres import timescaledb_available
from greenmon.settings import load_settings
from tests.plugins.services import LocalServices, ServiceHandle
from tests.prerequisites import require

# --- render_mosquitto_conf (pure) -------------------------------------------------------


def test_mosquitto_conf_defaults() -> None:
    conf = render_mosquitto_conf(11883, Path("/srv/mq"), log_file=Path("/srv/log/mq.log"))
    lines = conf.splitlines()
    assert "listener 11883 127.0.0.1" in lines
    assert "allow_anonymous true" in lines
    assert "persistence true" in lines
    assert "persistence_location /srv/mq/" in lines
    assert f"autosave_interval {AUTOSAVE_CHANGES}" in lines
    assert "autosave_on_changes true" in lines
    assert "max_queued_messages 0" in lines  # 0 = unlimited: nothing dropped offline
    assert "max_queued_bytes 0" in lines
    assert "max_inflight_messages 10000" in lines
    assert "max_packet_size 1048576" in lines
    assert "set_tcp_nodelay true" in lines
    assert "log_dest file /srv/log/mq.log" in lines
    assert any(line.startswith("log_timestamp_format ") for line in lines)
    assert not any(
        line.startswith(("password_file", "acl_file", "user ", "certfile")) for line in lines
    )


def test_mosquitto_conf_auth_tls_user() -> None:
    tls = MqttTls(18883, Path("/c/ca.pem"), Path("/c/srv.pem"), Path("/c/srv.key"))
    conf = render_mosquitto_conf(
        11883,
        Path("/srv/mq/"),
        password_file=Path("/c/passwd"),
        acl_file=Path("/c/acl"),
        tls=tls,
        user="mosquitto",
    )
    lines = conf.splitlines()
    assert "allow_anonymous false" in lines
    assert "allow_anonymous true" not in lines
    assert "password_file /c/passwd" in lines
    assert "acl_file /c/acl" in lines
    assert "user mosquitto" in lines
    assert "persistence_location /srv/mq/" in lines
    tls_at = lines.index("listener 18883 127.0.0.1")
    assert lines.index("listener 11883 127.0.0.1") < tls_at
    assert lines[tls_at + 1 : tls_at + 4] == [
        "cafile /c/ca.pem",
        "certfile /c/srv.pem",
        "keyfile /c/srv.key",
    ]
    assert "log_dest stderr" in lines


# --- MQTT ---------------------------------------------------------------------------------


class _Subscriber:
    """A paho 2.x client collecting QoS 1 messages in a queue."""

    def __init__(self, port: int, client_id: str, topic: str, *, clean: bool) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.subscribed: queue.Queue[bool] = queue.Queue()
        self.topic = topic
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_args: self.subscribed.put(True)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        assert self.subscribed.get(timeout=10)

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        assert not reason.is_failure, reason
        client.subscribe(self.topic, qos=1)

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        self.messages.put((msg.topic, msg.payload))

    def take(self, count: int, timeout: float = 10.0) -> list[bytes]:
        return [self.messages.get(timeout=timeout)[1] for _ in range(count)]

    def drain(self, quiet: float = 2.0) -> list[bytes]:
        """Whatever else arrives until nothing has for ``quiet`` seconds."""
        out = []
        while True:
            try:
                out.append(self.messages.get(timeout=quiet)[1])
            except queue.Empty:
                return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _publish(port: int, topic: str, payloads: list[bytes]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for payload in payloads]
        for info in infos:
            info.wait_for_publish(timeout=10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.integration
def test_mqtt_qos1_roundtrip(mosquitto_service: ServiceHandle) -> None:
    sub = _Subscriber(mosquitto_service.port, "rt-sub", "rt/#", clean=True)
    try:
        _publish(mosquitto_service.port, "rt/a", [b"one", b"two"])
        assert sub.take(2) == [b"one", b"two"]
    finally:
        sub.close()


@pytest.mark.integration
def test_mqtt_offline_session_survives_restart_and_crash(
    mosquitto_service: ServiceHandle,
) -> None:
    port, topic = mosquitto_service.port, "durable/m1"
    sub = _Subscriber(port, "durable-sub", "durable/#", clean=False)
    sub.close()  # offline from here on; the broker queues for the session

    _publish(port, topic, [b"before-restart-%d" % i for i in range(50)])
    mosquitto_service.restart()  # graceful: the database is saved on exit
    # more than AUTOSAVE_CHANGES changes: the broker saves its database on the way
    after = [b"after-restart-%d" % i for i in range(2 * AUTOSAVE_CHANGES)]
    _publish(port, topic, after)
    mosquitto_service.kill()
    mosquitto_service.start()

    sub = _Subscriber(port, "durable-sub", "durable/#", clean=False)
    try:
        got = sub.take(50 + AUTOSAVE_CHANGES)
        got += sub.drain()
    finally:
        sub.close()
    expected = [b"before-restart-%d" % i for i in range(50)] + after
    # the session and what it queued survive; a crash loses at most the changes since the
    # last save (test_broker_crash.py measures that window under load): only a tail
    assert got == expected[: len(got)]
    assert len(expected) - len(got) <= AUTOSAVE_CHANGES


# --- Kafka protocol (tansu) -------------------------------------------------------------


@pytest.mark.integration
def test_kafka_roundtrip_with_group_commit(kafka_service: ServiceHandle) -> None:
    bootstrap = f"127.0.0.1:{kafka_service.port}"
    topic, group = f"t-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])
        assert topic in admin.list_topics()
    finally:
        admin.close()

    producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    for i in range(40):
        producer.send(topic, key=b"meter-%d" % (i % 7), value=b"%d" % i)
    producer.flush(timeout=20)
    producer.close()

    def _consumer() -> KafkaConsumer:
        return KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=6000,
            heartbeat_interval_ms=2000,
        )

    consumer = _consumer()
    values: list[int] = []
    deadline = time.monotonic() + 30
    while len(values) < 40 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            values += [int(r.value) for r in records]
    consumer.commit()
    committed = {tp.partition: consumer.committed(tp) for tp in consumer.assignment()}
    consumer.close()
    assert sorted(values) == list(range(40))
    assert sum(offset or 0 for offset in committed.values()) == 40

    again = _consumer()  # same group: starts at the committed offsets
    try:
        again.poll(timeout_ms=500)
        deadline = time.monotonic() + 30
        while not again.assignment() and time.monotonic() < deadline:
            again.poll(timeout_ms=500)
        positions = {tp.partition: again.position(tp) for tp in again.assignment()}
        assert positions == committed
        assert all(not batch for batch in again.poll(timeout_ms=1000).values())
        assert again.committed(TopicPartition(topic, 0)) == committed[0]
    finally:
        again.close()


# --- PostgreSQL / TimescaleDB -----------------------------------------------------------


@pytest.mark.integration
def test_postgres_timescaledb_hypertable(postgres_service: ServiceHandle) -> None:
    require(timescaledb_available(), "TimescaleDB is not installed")
    with psycopg.connect(postgres_service.url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        names = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
        assert "timescaledb" in names
        conn.execute("CREATE TABLE readings_t (ts timestamptz NOT NULL, v double precision)")
        conn.execute("SELECT create_hypertable('readings_t', by_range('ts'))")
        conn.execute("INSERT INTO readings_t VALUES (now(), 1.5), (now() - interval '30 d', 2)")
        (chunks,) = conn.execute("SELECT count(*) FROM show_chunks('readings_t')").fetchone() or (
            0,
        )
        assert chunks == 2
        assert conn.execute("SHOW fsync").fetchone() == ("off",)


@pytest.mark.integration
def test_local_services_fixture(local_services: LocalServices) -> None:
    settings = local_services.settings()
    assert settings.database_url == local_services.database_url
    assert settings.mqtt_host_port == ("127.0.0.1", local_services.mqtt.port)
    assert settings.kafka_bootstrap == [f"127.0.0.1:{local_services.kafka.port}"]
    with psycopg.connect(settings.database_dsn()) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("greenmon",)


# --- services up / status / down --------------------------------------------------------


@pytest.fixture
def state_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="greenmon-state-", dir="/tmp"))
    path.chmod(0o755)
    yield path / "state"
    shutil.rmtree(path, ignore_errors=True)


def _states(statuses: list[ServiceStatus]) -> dict[str, str]:
    return {status.name: status.state for status in statuses}


@pytest.mark.integration
def test_services_up_status_down(state_dir: Path) -> None:
    settings = load_settings(
        mqtt_url=f"mqtt://127.0.0.1:{free_port()}",
        kafka_url=f"kafka://127.0.0.1:{free_port()}",
        database_url=f"postgresql://greenmon@127.0.0.1:{free_port()}/greenmon",
        state_dir=state_dir,
    )
    expected_running = {"mqtt": "running", "kafka": "running", "postgres": "running"}
    try:
        assert _states(services_status(settings)) == dict.fromkeys(expected_running, "stopped")
        up = services_up(settings)
        assert _states(up) == expected_running, up
        started = time.monotonic()
        again = services_up(settings)
        assert time.monotonic() - started < 2.0
        assert [s.pid for s in again] == [s.pid for s in up]
        assert _states(services_status(settings)) == expected_running
        assert (state_dir / "mosquitto" / "mosquitto.conf").is_file()
        assert (state_dir / "logs" / "postgres.log").is_file()

        with psycopg.connect(settings.database_dsn()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

        # a crashed broker is reported as failed, with its log
        mqtt_pid = next(s.pid for s in up if s.name == "mqtt")
        assert mqtt_pid is not None
        _kill(mqtt_pid)
        crashed = {s.name: s for s in services_status(settings)}["mqtt"]
        assert crashed.state == "failed"
        assert "died" in crashed.detail
        assert _states(services_up(settings)) == expected_running
    finally:
        down = services_down(settings)
    assert _states(down) == dict.fromkeys(expected_running, "stopped"), down
    assert _states(services_status(settings)) == dict.fromkeys(expected_running, "stopped")


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # gone, or a zombie of this test process
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return
        time.sleep(0.05)


@pytest.mark.integration
def test_services_failed_and_external(state_dir: Path) -> None:
    with (
        socket.socket() as idle,  # bound, not listening: the broker cannot bind
        socket.socket() as listening,  # answers: somebody else's broker
    ):
        idle.bind(("127.0.0.1", 0))
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        settings = load_settings(
            mqtt_url=f"mqtt://127.0.0.1:{idle.getsockname()[1]}",
            kafka_url=f"kafka://127.0.0.1:{listening.getsockname()[1]}",
            database_url="postgresql://greenmon@db.example.invalid:5432/greenmon",
            state_dir=state_dir,
        )
        statuses = {s.name: s for s in services_up(settings)}
        try:
            assert statuses["mqtt"].state == "failed"
            assert f"port {idle.getsockname()[1]} taken" in statuses["mqtt"].detail
            assert statuses["kafka"].state == "external"
            assert statuses["postgres"].state == "external"
            assert "not a local URL" in statuses["postgres"].detail
        finally:
            services_down(settings)
