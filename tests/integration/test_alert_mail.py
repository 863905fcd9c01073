"""Alert mail through a real SMTP server (aiosmtpd) that requires STARTTLS and a login,
and one that speaks TLS from the start (smtps://), with certificates from a CA made here."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from alerts.channels import send_email
from greenmon.errors import DeliveryError
from greenmon.local.ports import free_port
from greenmon.settings import Settings, load_settings
from tests.integration.alert_peers import LateMailbox, WebhookReceiver
from tests.integration.conftest import Pipeline, hold, run_cli
from tests.integration.test_alerts import (
    BEHIND_RULES,
    REGISTRY,
    _deliveries,
    _ytd,
    alert_settings,
    history,
    rules_yaml,
    wait_for,
)
from tests.integration.test_ingest_security import make_ca_and_server_cert

pytestmark = pytest.mark.integration

USER, PASSWORD = "alerts", "m@il-pass"
DOC = {"rule_id": "demand", "transition": "firing", "severity": "warning",
       "enterprise_id": "A", "enterprise_name": "Alpha Chemicals", "meter_id": "A-E",
       "measure": "demand_kw", "unit": "kW", "value": 1000.0, "threshold": 800.0,
       "since": "2025-03-03T00:30:00+08:00",
       "dashboard": "http://g/d/greenmon-enterprise"}  # fmt: skip


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], bytes]] = []
        self.logins: list[tuple[str, bool]] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.mails.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"

    def authenticate(self, _server: Any, session: Any, _env: Any, _mech: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(), PASSWORD.encode())  # fmt: skip
        self.logins.append((data.login.decode(), bool(session.ssl)))
        return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    ca, cert, key = make_ca_and_server_cert(tmp_path_factory.mktemp("smtp") / "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return ca, context


@pytest.fixture
def starttls_server(certs: tuple[Path, ssl.SSLContext]) -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, tls_context=certs[1], require_starttls=True,
        auth_required=True, authenticator=box.authenticate, auth_exclude_mechanism=["LOGIN"],
    )  # fmt: skip
    controller.start()
    yield box, port
    controller.stop()


def mail_settings(url: str, ca: Path | None, **extra: Any) -> Settings:
    return load_settings(smtp_url=url, smtp_ca_file=ca, smtp_from="greenmon@city.example", **extra)


def test_starttls_and_login_deliver_text_and_html(
    starttls_server: tuple[Mailbox, int], certs: tuple[Path, ssl.SSLContext]
) -> None:
    box, port = starttls_server
    settings = mail_settings(f"smtp://localhost:{port}", certs[0], smtp_starttls=True,
                             smtp_username=USER, smtp_password=SecretStr(PASSWORD))  # fmt: skip
    send_email(settings, "energy@a.example", DOC)
    assert box.logins == [(USER, True)]  # the login went over the upgraded connection
    ((rcpt, raw),) = box.mails
    mail = message_from_bytes(raw)
    assert rcpt == ["energy@a.example"] and mail["From"] == "greenmon@city.example"
    assert "Alpha Chemicals" in mail["Subject"] and "1000 kW" in mail["Subject"]
    kinds = sorted(p.get_content_type() for p in mail.walk() if not p.is_multipart())
    assert kinds == ["text/html", "text/plain"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"smtp_starttls": False}, "AUTH extension not supported"),  # no login in the clear
        ({"smtp_password": SecretStr("wrong")}, "535"),  # authentication failed
        ({"smtp_username": None}, "530"),  # authentication required
        ({"smtp_ca_file": None}, "CERTIFICATE_VERIFY_FAILED"),  # not our CA: not trusted
    ],
)
def test_a_misconfigured_mail_channel_fails_with_a_clear_error(
    starttls_server: tuple[Mailbox, int], certs: tuple[Path, ssl.SSLContext],
    change: dict[str, Any], error: str,
) -> None:  # fmt: skip
    box, port = starttls_server
    values: dict[str, Any] = {"smtp_starttls": True, "smtp_username": USER,
                              "smtp_password": SecretStr(PASSWORD), "smtp_ca_file": certs[0],
                              **change}  # fmt: skip
    settings = load_settings(smtp_url=f"smtp://localhost:{port}", **values)
    with pytest.raises(DeliveryError, match=error):
        send_email(settings, "energy@a.example", DOC)
    assert box.mails == []


def test_smtps_speaks_tls_from_the_start(certs: tuple[Path, ssl.SSLContext]) -> None:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, ssl_context=certs[1])
    controller.start()
    try:
        send_email(mail_settings(f"smtps://localhost:{port}", certs[0]), "x@b.example", DOC)
        assert [r for r, _m in box.mails] == [["x@b.example"]]
        with pytest.raises(DeliveryError, match="SMTP"):  # plain SMTP to a TLS port
            send_email(mail_settings(f"smtp://localhost:{port}", certs[0]), "x@b.example", DOC)
    finally:
        controller.stop()
    assert len(box.mails) == 1


def test_mail_server_down_then_back_delivers_the_alert_exactly_once(
    pipeline: Pipeline, receiver: WebhookReceiver, late_mailbox: LateMailbox
) -> None:
    """The alerts service retries the mail while the SMTP server refuses connections; once
    it is back the alert arrives, once, and no later retry sends it again."""
    settings = alert_settings(pipeline, late_mailbox.port)
    pipeline.load_registry(REGISTRY)
    rules = pipeline.log_dir.parent / "rules.yaml"
    rules.write_text(rules_yaml(BEHIND_RULES, receiver))
    run_cli(settings, "alerts", "rules", "load", str(rules))
    receiver.start()
    _ytd(settings, "A", 1.2)  # behind target: one firing alert for A
    pipeline.start("alerts")
    wait_for("mail attempts failing while the webhook goes through", lambda: (
        (d := _deliveries(settings)).get("email", (0, False, None))[0] >= 2
        and d["webhook"][1] and not d["email"][1]), pipeline)  # fmt: skip
    assert late_mailbox.mails == []
    late_mailbox.start()
    wait_for("the mail after the server came back", lambda: bool(late_mailbox.mails), pipeline)

    def once() -> None:
        assert [r for r, _m in late_mailbox.mails] == [["energy@a.example"]]
        assert _deliveries(settings)["email"][1]

    hold("the alert mailed once", once, 3 * settings.alerts_retry_max_s + 2)
    mail = message_from_bytes(late_mailbox.mails[0][1])
    assert "Alpha Chemicals" in mail["Subject"]
    assert history(settings) == [("firing", "behind/enterprise/A", "A")]
