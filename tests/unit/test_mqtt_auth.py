"""MQTT credentials and ACL generation (greenmon.local.mqtt_auth): formats, plan, files, CLI."""

from __future__ import annotations

import base64
import shutil
import stat
import subprocess
from collections.abc import Callable
from itertools import count
from pathlib import Path

import pytest

from greenmon import cli
from greenmon.errors import CredentialsError
from greenmon.local import mqtt_auth
from greenmon.local.mqtt_auth import (
    hash_password,
    issue_credentials,
    parse_password_file,
    plan_credentials,
    render_acl,
    render_password_file,
    verify_password,
)
from greenmon.settings import load_settings
from tests.prerequisites import require

PREFIX = "greenmon/v1"
GIVEN = "from-settings"  # the collector password in the settings
OTHER = "changed-in-settings"


def _tokens() -> Callable[[], str]:
    numbers = count(1)
    return lambda: f"secret-{next(numbers)}"


# --- hashing ---------------------------------------------------------------------------------


def test_hash_is_mosquitto_pbkdf2_sha512_format() -> None:
    hashed = hash_password("s3cret", salt=b"0123456789ab")
    kind, rounds, salt, digest = hashed.split("$")[1:]
    assert (kind, rounds, salt) == ("7", "101", "MDEyMzQ1Njc4OWFi")
    assert len(digest) == 88  # base64 of 64 bytes
    assert verify_password("s3cret", hashed)
    assert not verify_password("s3cret!", hashed)
    assert not verify_password("s3cret", "s3cret")
    assert hash_password("s3cret") != hash_password("s3cret")  # random salt


def test_hash_agrees_with_mosquitto_passwd(tmp_path: Path) -> None:
    require(shutil.which("mosquitto_passwd") is not None, "mosquitto_passwd is not installed")
    path = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "alice", "wonder"], check=True)
    entries = parse_password_file(path.read_text())
    assert verify_password("wonder", entries["alice"])
    salt = entries["alice"].split("$")[3]
    ours = hash_password("wonder", salt=base64.b64decode(salt))
    assert ours == entries["alice"]


# --- file formats ------------------------------------------------------------------------------


def test_acl_gives_each_enterprise_its_own_subtree_and_the_collector_read_access() -> None:
    acl = render_acl(["E2", "E1", "E1"], collector_user="collector", prefix=PREFIX + "/")
    blocks = [b.splitlines() for b in acl.split("\n\n")]
    assert blocks[1] == [
        "user collector",
        "topic read greenmon/v1/+/+/reading",
        "topic read greenmon/v1/+/batch",
        "topic write greenmon/v1/+/alerts/#",
        "topic read spBv1.0/+/+/+",
        "topic read spBv1.0/+/+/+/+",
        "topic write spBv1.0/+/NCMD/+",
    ]
    sparkplug = ["topic write spBv1.0/{0}/#", "topic read spBv1.0/{0}/NCMD/#",
                 "topic read spBv1.0/{0}/DCMD/#"]  # fmt: skip
    assert blocks[2:] == [
        ["user E1", "topic write greenmon/v1/E1/#", "topic read greenmon/v1/E1/alerts/#",
         *(r.format("E1") for r in sparkplug)],
        ["user E2", "topic write greenmon/v1/E2/#", "topic read greenmon/v1/E2/alerts/#",
         *(r.format("E2") for r in sparkplug)],
    ]  # fmt: skip
    rules = [line for line in acl.splitlines() if line.startswith(("topic", "pattern"))]
    assert len(rules) == 6 + 2 * 5  # no rule outside a user block (that would apply to all)


@pytest.mark.parametrize("bad", ["E/1", "E#", "E+", "a:b", "", "x" * 65, "E 1"])
def test_acl_and_password_file_refuse_ids_that_would_widen_a_rule(bad: str) -> None:
    with pytest.raises(CredentialsError):
        render_acl([bad], collector_user="collector", prefix=PREFIX)
    with pytest.raises(CredentialsError):
        render_password_file({bad: hash_password("x")})


def test_password_file_holds_hashes_only() -> None:
    text = render_password_file({"E2": hash_password("pw-two"), "E1": hash_password("pw-one")})
    assert [line.split(":")[0] for line in text.splitlines()] == ["E1", "E2"]
    assert "pw-one" not in text and "pw-two" not in text
    assert all(line.split(":", 1)[1].startswith("$7$101$") for line in text.splitlines())
    with pytest.raises(CredentialsError, match="not hashed"):
        render_password_file({"E1": "pw-one"})
    with pytest.raises(CredentialsError, match="line 2"):
        parse_password_file("E1:$7$1$a$b\nE2:plain\n")
    assert parse_password_file(text + "\n# comment\n") == parse_password_file(text)


# --- the plan --------------------------------------------------------------------------------


def test_plan_issues_passwords_to_new_users_and_keeps_existing_ones() -> None:
    first = plan_credentials(
        ["E1", "E2"], {}, collector_user="col", collector_password=None, new_password=_tokens()
    )
    assert set(first.issued) == {"E1", "E2", "col"}
    for user, password in first.issued.items():
        assert verify_password(password, first.entries[user])
    again = plan_credentials(
        ["E1", "E2"],
        first.entries,
        collector_user="col",
        collector_password=None,
        new_password=_tokens(),
    )
    assert again.issued == {}
    assert again.entries == first.entries  # idempotent: same hashes, nothing re-issued
    grown = plan_credentials(
        ["E1", "E2", "E3"],
        first.entries,
        collector_user="col",
        collector_password=None,
        new_password=_tokens(),
    )
    assert set(grown.issued) == {"E3"}
    assert {u: grown.entries[u] for u in first.entries} == first.entries
    assert "secret" not in repr(grown)  # plain passwords are kept out of repr/logs


def test_plan_rotates_on_request_and_drops_users_left_out_of_the_registry() -> None:
    first = plan_credentials(["E1", "E2"], {}, collector_user="col", collector_password=GIVEN)
    rotated = plan_credentials(
        ["E1"], first.entries, collector_user="col", collector_password=GIVEN, rotate=["E1"]
    )
    assert set(rotated.issued) == {"E1"}
    assert rotated.entries["E1"] != first.entries["E1"]
    assert verify_password(rotated.issued["E1"], rotated.entries["E1"])
    assert rotated.removed == ("E2",)
    assert "E2" not in rotated.entries
    with pytest.raises(CredentialsError, match="unknown MQTT user"):
        plan_credentials(["E1"], {}, collector_user="col", collector_password=GIVEN, rotate=["E9"])
    with pytest.raises(CredentialsError, match="is the collector's MQTT user"):
        plan_credentials(["col"], {}, collector_user="col", collector_password=GIVEN)


def test_collector_password_comes_from_the_settings() -> None:
    plan = plan_credentials(["E1"], {}, collector_user="col", collector_password=GIVEN)
    assert "col" not in plan.issued
    assert verify_password(GIVEN, plan.entries["col"])
    kept = plan_credentials(["E1"], plan.entries, collector_user="col", collector_password=GIVEN)
    assert kept.entries["col"] == plan.entries["col"]
    changed = plan_credentials(["E1"], plan.entries, collector_user="col", collector_password=OTHER)
    assert verify_password(OTHER, changed.entries["col"])
    assert "col" not in changed.issued


# --- files and the CLI ---------------------------------------------------------------------------


@pytest.fixture
def no_chown(monkeypatch: pytest.MonkeyPatch) -> None:
    """As root the files go to the broker's user; not in unit tests (tmp dirs stay private)."""
    monkeypatch.setattr(mqtt_auth, "hand_over", lambda *_a, **_k: None)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("no_chown")
def test_issue_credentials_writes_hashed_file_acl_and_handover_once(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "state", mqtt_username="col")
    out = tmp_path / "out"
    report = issue_credentials(settings, out, enterprise_ids=["E1", "E2"])
    assert report.issued == ("E1", "E2", "col", "greenmon-feed")
    assert not report.reloaded  # no local broker runs
    assert report.password_file == (tmp_path / "state" / "mosquitto" / "passwd").resolve()
    passwords = {p.stem: p.read_text().strip() for p in out.glob("*.txt")}
    assert set(passwords) == {"E1", "E2", "greenmon-feed", "col"}
    text = report.password_file.read_text()
    entries = parse_password_file(text)
    for user, password in passwords.items():
        assert password not in text
        assert len(password) >= 40
        assert verify_password(password, entries[user])
        assert _mode(out / f"{user}.txt") == 0o600
    assert _mode(report.password_file) == 0o600
    acl = report.acl_file.read_text()
    assert "user E2\ntopic write greenmon/v1/E2/#" in acl
    assert ("user greenmon-feed\ntopic write greenmon/v1/+/+/reading\n"
            "topic write greenmon/v1/+/batch\n") in acl  # fmt: skip

    for path in out.glob("*.txt"):
        path.unlink()
    again = issue_credentials(settings, out, enterprise_ids=["E1", "E2"])
    assert again.issued == ()
    assert list(out.glob("*.txt")) == []
    assert report.password_file.read_text() == text


@pytest.mark.usefixtures("no_chown")
def test_cli_mqtt_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GREENMON_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("GREENMON_MQTT_USERNAME", raising=False)
    monkeypatch.delenv("GREENMON_MQTT_PASSWORD", raising=False)
    monkeypatch.setattr(mqtt_auth, "registry_enterprises", lambda _s: ["E1"])
    assert cli.main(["mqtt", "credentials", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    issued = {p.stem: p.read_text().strip() for p in (tmp_path / "out").glob("*.txt")}
    assert set(issued) == {"E1", "greenmon-collector", "greenmon-feed"}
    assert all(password not in printed for password in issued.values())
    assert "GREENMON_MQTT_USERNAME=greenmon-collector" in printed
    assert "GREENMON_FEED_MQTT_PASSWORD from" in printed
    assert cli.main(["mqtt", "credentials", "--out", str(tmp_path / "o2"), "--rotate", "E1"]) == 0
    assert [p.stem for p in (tmp_path / "o2").glob("*.txt")] == ["E1"]
    assert (tmp_path / "o2" / "E1.txt").read_text().strip() != issued["E1"]


def test_the_feed_user_is_planned_like_an_enterprise_and_may_not_collide() -> None:
    passwords = iter(["p1", "p2", "p3"])
    first = plan_credentials(["E1"], {}, collector_user="col", collector_password=None,
                             feed_user="feed", new_password=passwords.__next__)  # fmt: skip
    assert first.issued == {"E1": "p1", "feed": "p2", "col": "p3"}
    kept = plan_credentials(["E1"], first.entries, collector_user="col",
                            collector_password=None, feed_user="feed", rotate=["feed"],
                            new_password=lambda: "p4")  # fmt: skip
    assert kept.issued == {"feed": "p4"} and kept.entries["E1"] == first.entries["E1"]
    for ids, feed in ((["feed"], "feed"), (["E1"], "col")):
        with pytest.raises(CredentialsError):
            plan_credentials(ids, {}, collector_user="col", collector_password=None,
                             feed_user=feed)  # fmt: skip
