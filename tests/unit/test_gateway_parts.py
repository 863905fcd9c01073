"""The gateway's pure parts: register decoding, tick alignment, config; its durable queue."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.config import GatewayConfigError, load_config, parse_config
from gateway.registers import RegisterError, decode_registers, interval_start, next_tick
from gateway.store import ReadingQueue

SAMPLE = Path(__file__).resolve().parents[2] / "gateway" / "gateway.sample.toml"


def _words(raw: bytes) -> list[int]:
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


@pytest.mark.parametrize(
    ("rtype", "fmt", "value"),
    [
        ("uint16", ">H", 65535),
        ("uint32", ">I", 4_000_000_001),
        ("int32", ">i", -123456),
        ("float32", ">f", 12.5),
        ("uint64", ">Q", 2**53 + 2),
    ],
)
def test_decode_big_endian(rtype: str, fmt: str, value: float) -> None:
    assert decode_registers(_words(struct.pack(fmt, value)), rtype) == float(value)


def test_word_and_byte_order() -> None:
    # 0x12345678 as a uint32: big/big 0x1234 0x5678; little words 0x5678 0x1234;
    # swapped bytes 0x3412 0x7856
    assert decode_registers([0x1234, 0x5678], "uint32") == 0x12345678
    assert decode_registers([0x5678, 0x1234], "uint32", word_order="little") == 0x12345678
    assert decode_registers([0x3412, 0x7856], "uint32", byte_order="little") == 0x12345678
    assert (
        decode_registers([0x7856, 0x3412], "uint32", word_order="little", byte_order="little")
        == 0x12345678
    )


def test_bad_registers_refused() -> None:
    with pytest.raises(RegisterError):
        decode_registers([1], "uint32")
    with pytest.raises(RegisterError):
        decode_registers([0x7FC0, 0x0000], "float32")  # NaN


def test_ticks_are_clock_aligned() -> None:
    now = datetime(2025, 1, 1, 3, 7, 12, 500_000, tzinfo=UTC)
    assert next_tick(now, 900) == datetime(2025, 1, 1, 3, 15, tzinfo=UTC)
    assert next_tick(datetime(2025, 1, 1, 3, 15, tzinfo=UTC), 900) == datetime(
        2025, 1, 1, 3, 30, tzinfo=UTC
    )
    assert next_tick(now, 1) == datetime(2025, 1, 1, 3, 7, 13, tzinfo=UTC)
    assert interval_start(datetime(2025, 1, 1, 3, 15, tzinfo=UTC), 900) == datetime(
        2025, 1, 1, 3, 0, tzinfo=UTC
    )


def test_sample_config_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "gateway.toml"
    conf.write_text(SAMPLE.read_text())
    (tmp_path / "E001.txt").write_text("secret\n")
    monkeypatch.setenv("GATEWAY_OPCUA_PASSWORD", "ua-secret")
    cfg = load_config(conf)
    assert (cfg.enterprise, cfg.interval_s, cfg.meter_count) == ("E001", 900, 3)
    assert cfg.mqtt.password == "secret" and cfg.mqtt.username == "E001"  # noqa: S105
    assert cfg.modbus[0].type == "uint32" and cfg.modbus[0].common.scale == 0.1
    assert cfg.opcua[0].password == "ua-secret"  # noqa: S105
    assert cfg.opcua[0].security_mode == "SignAndEncrypt"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"enterprise": "E1"}, "no \\[\\[modbus\\]\\]"),
        ({"enterprise": "E1", "interval": "7m", "modbus": []}, "divide a day"),
        (
            {
                "enterprise": "E1",
                "modbus": [
                    {"meter": "M", "host": "h", "address": 1, "unit": "kWh", "type": "int8"}
                ],
            },
            "type: 'int8'",
        ),
        (
            {"enterprise": "E1", "modbus": [{"meter": "M", "host": "h", "unit": "kWh"}]},
            "address: is required",
        ),
        ({"enterprise": "E1", "mqtt": {"password": "x"}}, "password_env or password_file"),
        (
            {
                "enterprise": "E1",
                "opcua": [
                    {
                        "meter": "M",
                        "endpoint": "opc.tcp://h:4840",
                        "node_id": "i=1",
                        "unit": "m3",
                        "security_mode": "Sign",
                    }
                ],
            },
            "needs security_policy",
        ),
    ],
)
def test_config_errors_name_the_key(doc: dict[str, object], message: str) -> None:
    with pytest.raises(GatewayConfigError, match=message):
        parse_config(doc, base=Path("."), env={})


def test_queue_survives_reopen_and_keeps_order(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    q = ReadingQueue(path)
    q.put([{"meter": "M", "value": float(i)} for i in range(5)])
    first = q.after(0, 2)
    assert [r.item["value"] for r in first] == [0.0, 1.0]
    q.delete([r.id for r in first])
    q.close()
    q = ReadingQueue(path)
    assert len(q) == 3
    assert [r.item["value"] for r in q.after(0, 10)] == [2.0, 3.0, 4.0]
    assert q.size_bytes() > 0
    q.close()


def test_cli_refuses_a_bad_config_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from greenmon.cli import main

    conf = tmp_path / "gateway.toml"
    conf.write_text('enterprise = "E1"\ninterval = "7m"\n')
    assert main(["gateway", "--config", str(conf)]) == 1
    assert "interval: must divide a day" in capsys.readouterr().err
    assert main(["gateway", "--config", str(tmp_path / "missing.toml")]) == 1
    assert "cannot read gateway config" in capsys.readouterr().err
