"""Ingest security on a real Mosquitto: generated passwords and ACLs, and TLS.

The broker runs with the password file and ACL that ``greenmon mqtt credentials``
writes (generated here for two enterprises of a simulated registry), and with a
second, TLS listener whose certificate comes from a CA made for the test.
"""

from __future__ import annotations

import json
import pwd
import ssl
import stat
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from greenmon.feeds.fleet import build_registry
from greenmon.feeds.publisher import publish
from greenmon.feeds.simulator import generate
from greenmon.local.manager import services_down, services_up
from greenmon.local.mosquitto import MqttTls, start_mosquitto
from greenmon.local.mqtt_auth import DEFAULT_COLLECTOR_USER, DEFAULT_FEED_USER, issue_credentials
from greenmon.local.ports import free_port
from greenmon.local.process import ManagedProcess, running_as_root
from greenmon.settings import Settings, load_settings
from tests.integration.conftest import Pipeline, hold, read_topic

pytestmark = pytest.mark.integration

PREFIX = "greenmon/v1"
REGISTRY = build_registry(2, 2, seed=5)
A, B = (e.enterprise_id for e in REGISTRY.enterprises)
METER_A = next(m for m in REGISTRY.meters if m.enterprise_id == A)
METER_B = next(m for m in REGISTRY.meters if m.enterprise_id == B)
COLLECTOR = DEFAULT_COLLECTOR_USER
FEED = DEFAULT_FEED_USER
WAIT_S = 10.0
SILENCE_S = 3.0  # how long a message that must not arrive is waited for


@dataclass
class SecureBroker:
    port: int
    tls_port: int
    ca_file: Path
    password_file: Path
    acl_file: Path
    passwords: dict[str, str]
    proc: ManagedProcess


def _openssl(cwd: Path, args: str) -> None:
    subprocess.run(["openssl", *args.split()], cwd=cwd, check=True, capture_output=True)


def make_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it."""
    directory.mkdir(parents=True)
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    new_key = "-newkey rsa:2048 -nodes"
    _openssl(directory, f"req -x509 {new_key} -days 2 -keyout ca.key -out ca.pem -subj /CN=test-CA")
    _openssl(directory, f"req {new_key} -keyout server.key -out server.csr -subj /CN=localhost")
    _openssl(
        directory,
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-out server.pem -extfile san.cnf",
    )
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


@pytest.fixture(scope="module")
def secure_broker(services_dir: Path) -> Iterator[SecureBroker]:
    root = services_dir / f"secure-{uuid.uuid4().hex[:8]}"
    root.mkdir(mode=0o755)
    settings = load_settings(state_dir=root, mqtt_topic_prefix=PREFIX)
    handover = root / "handover"
    report = issue_credentials(settings, handover, enterprise_ids=[A, B])
    assert set(report.issued) == {A, B, COLLECTOR, FEED}
    passwords = {p.stem: p.read_text().strip() for p in handover.glob("*.txt")}
    data_dir = report.password_file.parent
    ca, cert, key = make_ca_and_server_cert(data_dir / "tls")
    port, tls_port = free_port(), free_port()
    proc = start_mosquitto(
        data_dir,
        port,
        password_file=report.password_file,
        acl_file=report.acl_file,
        tls=MqttTls(tls_port, ca, cert, key),
        die_with_parent=True,
    )
    try:
        proc.wait_port("127.0.0.1", tls_port, 10)
        yield SecureBroker(
            port, tls_port, ca, report.password_file, report.acl_file, passwords, proc
        )
    finally:
        proc.stop(10)


@dataclass
class Client:
    """A connected (or refused) paho client and what it saw."""

    client: mqtt.Client
    connack: Any = None
    granted: list[Any] = field(default_factory=list)
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    event: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, predicate: Any, timeout: float = WAIT_S) -> bool:
        with self.event:
            return bool(self.event.wait_for(predicate, timeout))

    def subscribe(self, *topics: str) -> None:
        self.client.subscribe([(t, 1) for t in topics])
        assert self.wait(lambda: len(self.granted) >= len(topics)), "no SUBACK"

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(WAIT_S)
        assert info.is_published(), f"no PUBACK for {topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(
    port: int,
    user: str | None,
    password: str | None,
    *,
    ca: Path | None = None,
    tls: bool = False,
    wait_s: float = WAIT_S,
) -> Client:
    paho = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311
    )
    paho.reconnect_delay_set(5, 5)
    if user is not None:
        paho.username_pw_set(user, password)
    if tls:
        paho.tls_set(ca_certs=str(ca) if ca else None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    c = Client(paho)

    def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        with c.event:
            c.connack = rc
            c.event.notify_all()

    def on_subscribe(_c: Any, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        with c.event:
            c.granted.extend(codes)
            c.event.notify_all()

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with c.event:
            c.messages.append((msg.topic, bytes(msg.payload)))
            c.event.notify_all()

    paho.on_connect, paho.on_subscribe, paho.on_message = on_connect, on_subscribe, on_message
    paho.connect("127.0.0.1", port, keepalive=30)
    paho.loop_start()
    c.wait(lambda: c.connack is not None, wait_s)
    return c


def _equal(got: list[tuple[str, bytes]], expected: list[tuple[str, bytes]]) -> None:
    assert list(got) == expected


def connected(broker: SecureBroker, user: str, *, tls: bool = False) -> Client:
    port = broker.tls_port if tls else broker.port
    c = connect(port, user, broker.passwords[user], ca=broker.ca_file, tls=tls)
    assert c.connack is not None and not c.connack.is_failure, c.connack
    return c


def publish_as(broker: SecureBroker, user: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish where ``user`` may, each acknowledged, on a connection of its own."""
    c = connected(broker, user)
    try:
        for topic, payload in messages:
            c.publish(topic, payload)
    finally:
        c.close()


def publish_denied(
    broker: SecureBroker, user: str, topic: str, payload: bytes, tls: bool = False
) -> None:
    """Publish where ``user`` may not, on a connection of its own.

    MQTT 3.1.1 has no negative PUBACK: the broker must ack or close the connection
    [MQTT-3.3.5-2]. Mosquitto 2.0 acks, drops the message and closes the connection.
    """
    c = connected(broker, user, tls=tls)
    try:
        c.client.publish(topic, payload, qos=1).wait_for_publish(WAIT_S)
    except RuntimeError:
        pass  # disconnected before the PUBACK: refused all the same
    finally:
        c.close()


# --- passwords and ACLs ----------------------------------------------------------------------


def test_enterprise_publishes_only_under_its_own_topics(secure_broker: SecureBroker) -> None:
    collector = connected(secure_broker, COLLECTOR)
    try:
        collector.subscribe(f"{PREFIX}/+/+/reading", f"{PREFIX}/+/batch")
        assert all(not code.is_failure for code in collector.granted)
        foreign = [
            (f"{PREFIX}/{B}/{METER_B.meter_id}/reading", b"A posing as B"),
            (f"{PREFIX}/{B}/batch", b'{"readings": "A posing as B"}'),
            (f"{PREFIX}/{B}/{METER_A.meter_id}/reading", b"A's meter under B"),
        ]
        own = [
            (f"{PREFIX}/{A}/{METER_A.meter_id}/reading", b"own reading"),
            (f"{PREFIX}/{A}/batch", b'{"readings": []}'),
        ]
        for topic, payload in foreign:
            publish_denied(secure_broker, A, topic, payload)
        publish_as(secure_broker, A, own)
        assert collector.wait(lambda: len(collector.messages) >= len(own)), collector.messages
        hold("only A's own messages", lambda: _equal(collector.messages, own), SILENCE_S)
    finally:
        collector.close()


def test_sparkplug_group_is_the_enterprise_and_commands_reach_only_it(
    secure_broker: SecureBroker,
) -> None:
    """An enterprise's edge nodes publish only under spBv1.0/{its id}/ and read only its
    own nodes' commands; the collector reads every group and writes Rebirth commands."""
    collector = connected(secure_broker, COLLECTOR)
    edge = connected(secure_broker, A)
    try:
        collector.subscribe("spBv1.0/+/+/+", "spBv1.0/+/+/+/+")
        edge.subscribe("spBv1.0/+/NCMD/#")
        own = [(f"spBv1.0/{A}/NBIRTH/line1", b"birth"), (f"spBv1.0/{A}/DDATA/line1/d1", b"d")]
        publish_denied(secure_broker, A, f"spBv1.0/{B}/NBIRTH/line1", b"A posing as B")
        publish_as(secure_broker, A, own)
        assert collector.wait(lambda: len(collector.messages) >= len(own)), collector.messages
        collector.publish(f"spBv1.0/{B}/NCMD/line1", b"rebirth B")
        collector.publish(f"spBv1.0/{A}/NCMD/line1", b"rebirth A")
        assert edge.wait(lambda: len(edge.messages) >= 1), edge.messages
        time.sleep(SILENCE_S)
        commands = [
            (f"spBv1.0/{B}/NCMD/line1", b"rebirth B"),
            (f"spBv1.0/{A}/NCMD/line1", b"rebirth A"),
        ]
        assert collector.messages == own + commands  # its subscription sees its own commands
        assert edge.messages == [(f"spBv1.0/{A}/NCMD/line1", b"rebirth A")]
    finally:
        collector.close()
        edge.close()


def test_enterprise_reads_only_its_own_alerts(secure_broker: SecureBroker) -> None:
    collector = connected(secure_broker, COLLECTOR)
    a = connected(secure_broker, A)
    b = connected(secure_broker, B)
    try:
        a.subscribe(f"{PREFIX}/#")  # asks for everything; gets only what its ACL lets it read
        b.subscribe(f"{PREFIX}/{B}/alerts")
        b.publish(f"{PREFIX}/{B}/{METER_B.meter_id}/reading", b"B's reading")
        collector.publish(f"{PREFIX}/{B}/alerts", b"alert for B")
        collector.publish(f"{PREFIX}/{A}/alerts", b"alert for A")
        assert a.wait(lambda: len(a.messages) >= 1)
        assert b.wait(lambda: len(b.messages) >= 1)
        only_a = [(f"{PREFIX}/{A}/alerts", b"alert for A")]
        only_b = [(f"{PREFIX}/{B}/alerts", b"alert for B")]
        hold("A reads A's alert only", lambda: _equal(a.messages, only_a), SILENCE_S)
        hold("B reads B's alert only", lambda: _equal(b.messages, only_b), 0.0)
        # an enterprise cannot raise alerts for another one either
        publish_denied(secure_broker, A, f"{PREFIX}/{B}/alerts", b"fake alert")
        hold("no alert of A's for B", lambda: _equal(b.messages, only_b), SILENCE_S)
    finally:
        for c in (collector, a, b):
            c.close()


def test_the_feed_publishes_readings_for_any_enterprise_and_nothing_else(
    secure_broker: SecureBroker,
) -> None:
    collector = connected(secure_broker, COLLECTOR)
    a = connected(secure_broker, A)
    try:
        collector.subscribe(f"{PREFIX}/+/+/reading", f"{PREFIX}/+/batch")
        a.subscribe(f"{PREFIX}/{A}/alerts/#")
        allowed = [
            (f"{PREFIX}/{A}/{METER_A.meter_id}/reading", b"simulated A"),
            (f"{PREFIX}/{B}/{METER_B.meter_id}/reading", b"simulated B"),
            (f"{PREFIX}/{B}/batch", b'{"readings": []}'),
        ]
        publish_as(secure_broker, FEED, allowed)
        publish_denied(secure_broker, FEED, f"{PREFIX}/{A}/alerts/x", b"fake alert")
        reader = connected(secure_broker, FEED)  # and it reads nothing
        try:
            reader.subscribe(f"{PREFIX}/#")
            a.publish(f"{PREFIX}/{A}/{METER_A.meter_id}/reading", b"A's own")
            assert collector.wait(lambda: len(collector.messages) >= len(allowed) + 1)
            hold("the feed reads nothing", lambda: _equal(reader.messages, []), SILENCE_S)
            hold("A gets no alert", lambda: _equal(a.messages, []), 0.0)
        finally:
            reader.close()
        assert collector.messages[: len(allowed)] == allowed
    finally:
        collector.close()
        a.close()


def test_wrong_password_and_anonymous_clients_are_refused(secure_broker: SecureBroker) -> None:
    refused = [
        connect(secure_broker.port, A, secure_broker.passwords[B]),
        connect(secure_broker.port, A, ""),
        connect(secure_broker.port, "nobody", secure_broker.passwords[A]),
        connect(secure_broker.port, None, None),
    ]
    try:
        for c in refused:
            assert c.connack is not None and c.connack.is_failure
            assert "authori" in str(c.connack).lower(), c.connack
    finally:
        for c in refused:
            c.close()


def test_password_file_holds_no_plain_password(secure_broker: SecureBroker) -> None:
    text = secure_broker.password_file.read_text()
    lines = text.splitlines()
    assert sorted(line.split(":", 1)[0] for line in lines) == sorted([A, B, COLLECTOR, FEED])
    assert all(line.split(":", 1)[1].startswith("$7$") for line in lines)
    for password in secure_broker.passwords.values():
        assert len(password) >= 40
        assert password not in text
    for path in (secure_broker.password_file, secure_broker.acl_file):
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600
        if running_as_root():  # readable by the broker's user, and by it only
            assert pwd.getpwuid(st.st_uid).pw_name == "mosquitto"
    assert f"user {A}\ntopic write {PREFIX}/{A}/#\n" in secure_broker.acl_file.read_text()


# --- TLS ---------------------------------------------------------------------------------------


def test_tls_round_trip_with_the_ca_and_refusal_without(secure_broker: SecureBroker) -> None:
    collector = connected(secure_broker, COLLECTOR, tls=True)
    a = connected(secure_broker, A, tls=True)
    try:
        assert isinstance(a.client.socket(), ssl.SSLSocket)
        collector.subscribe(f"{PREFIX}/+/+/reading")
        topic = f"{PREFIX}/{A}/{METER_A.meter_id}/reading"
        a.publish(topic, b"over TLS")
        assert collector.wait(lambda: collector.messages == [(topic, b"over TLS")])
    finally:
        collector.close()
        a.close()
    with pytest.raises(ssl.SSLCertVerificationError):  # the system CAs do not know ours
        connect(secure_broker.tls_port, A, secure_broker.passwords[A], tls=True)
    # plain MQTT on the TLS port: the broker never answers with a CONNACK
    plain = connect(secure_broker.tls_port, A, secure_broker.passwords[A], wait_s=SILENCE_S)
    plain.close()
    assert plain.connack is None


def test_collector_and_publisher_end_to_end_over_tls_with_credentials(
    secure_broker: SecureBroker, pipeline_settings: Settings, tmp_path: Path
) -> None:
    """mqtts:// + CA + per-enterprise and collector accounts, through the real pipeline."""
    secure: Settings = pipeline_settings.model_copy(
        update={
            "mqtt_url": f"mqtts://127.0.0.1:{secure_broker.tls_port}",
            "mqtt_ca_file": secure_broker.ca_file,
            "mqtt_username": COLLECTOR,
            "mqtt_password": SecretStr(secure_broker.passwords[COLLECTOR]),
        }
    )
    pipeline = Pipeline(secure, tmp_path / "logs")
    try:
        pipeline.load_registry(REGISTRY)
        pipeline.start("processor")
        pipeline.start("collector")  # waits for its subscription over TLS
        readings = list(generate(REGISTRY, date(2025, 1, 1), 1, 900, seed=5))
        for enterprise_id in (A, B):
            own = [r for r in readings if r.enterprise_id == enterprise_id]
            sent = publish(
                own,
                secure,
                client_id=f"gw-{enterprise_id}-{uuid.uuid4().hex[:6]}",
                username=enterprise_id,
                password=secure_broker.passwords[enterprise_id],
            )
            assert sent == len(own)
        # A sneaks B's meter into its own batch: the collector refuses that reading
        sneaky = {"meter": METER_B.meter_id, **json.loads(readings[0].payload())}
        sneaky.update(unit=METER_B.unit, kind=METER_B.kind.value)
        batch = json.dumps({"readings": [sneaky]}).encode()
        # ... and posing as B: the broker drops it before the collector
        publish_denied(secure_broker, A, f"{PREFIX}/{B}/batch", batch, tls=True)
        a = connected(secure_broker, A, tls=True)
        try:
            a.publish(f"{PREFIX}/{A}/batch", batch)
        finally:
            a.close()
        assert pipeline.wait_stored(len(readings)) == len(readings), pipeline.logs()
        dead = read_topic(secure, secure.topic_dlq, expected=1, settle_s=SILENCE_S)
        assert [(d["origin"], d["index"]) for d in dead] == [(f"{PREFIX}/{A}/batch", 0)]
        assert f"does not belong to enterprise '{A}'" in dead[0]["reason"]
        log = pipeline.procs["collector"].log_tail(200)
        assert all(p not in log for p in secure_broker.passwords.values())
        assert pipeline.stored_count() == len(readings)
    finally:
        pipeline.stop_all()


# --- the local broker of `greenmon services up` ------------------------------------------------


def test_services_up_with_mqtt_auth_and_credentials_reload(services_dir: Path) -> None:
    """``mqtt_auth`` starts the broker locked; ``mqtt credentials`` lets the accounts in."""
    root = services_dir / f"state-{uuid.uuid4().hex[:8]}"
    root.mkdir(mode=0o755)
    port = free_port()
    settings = load_settings(
        state_dir=root,
        mqtt_url=f"mqtt://127.0.0.1:{port}",
        mqtt_auth=True,
        # not local: `services up` leaves them alone
        kafka_url="kafka://192.0.2.1:9092",
        database_url="postgresql://greenmon@192.0.2.1:5432/greenmon",
    )
    try:
        status = {s.name: s for s in services_up(settings)}
        assert status["mqtt"].state == "running", status["mqtt"]
        conf = (root / "mosquitto" / "mosquitto.conf").read_text().splitlines()
        assert "allow_anonymous false" in conf
        assert f"password_file {root.resolve()}/mosquitto/passwd" in conf
        assert f"acl_file {root.resolve()}/mosquitto/acl" in conf
        before = connect(port, A, "guess", wait_s=WAIT_S)
        before.close()
        assert before.connack is not None and before.connack.is_failure  # nobody yet

        out = root / "handover"
        report = issue_credentials(settings, out, enterprise_ids=[A, B])
        assert report.reloaded
        password = (out / f"{A}.txt").read_text().strip()
        deadline = time.monotonic() + WAIT_S
        while True:  # the broker re-reads its files on SIGHUP, asynchronously
            c = connect(port, A, password)
            c.close()
            if c.connack is not None and not c.connack.is_failure:
                break
            assert time.monotonic() < deadline, f"{A} still refused after reload: {c.connack}"
            time.sleep(0.2)
        anonymous = connect(port, None, None)
        anonymous.close()
        assert anonymous.connack is not None and anonymous.connack.is_failure
    finally:
        services_down(settings)
