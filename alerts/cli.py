"""``greenmon alerts``: run the service, load rules, list alerts, send a test message."""

from __future__ import annotations

import argparse
from pathlib import Path

from greenmon.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``greenmon alerts [rules load FILE | list | test]`` to the ``greenmon`` parser."""
    p = sub.add_parser("alerts", help="run the alerts service, or manage rules and alerts")
    p.set_defaults(handler=cmd_run)
    asub = p.add_subparsers(dest="alerts_command", required=False, metavar="ACTION")
    r = asub.add_parser("rules", help="alert rules and channels")
    rsub = r.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    q = rsub.add_parser("load", help="load a rules YAML file (rules and channels)")
    q.add_argument("file", type=Path)
    q.add_argument("--merge", action="store_true", help="keep rules that are not in the file")
    q.set_defaults(handler=cmd_rules_load)
    q = asub.add_parser("list", help="alerts that are pending, firing or resolved")
    q.add_argument("--enterprise", default=None)
    q.add_argument("--state", choices=["pending", "firing", "resolved"], default=None)
    q.add_argument("--deliveries", action="store_true", help="the deliveries and their outcome")
    q.set_defaults(handler=cmd_list)
    q = asub.add_parser("secret-key", help="print a new GREENMON_ALERTS_SECRET_KEY")
    q.set_defaults(handler=cmd_secret_key)
    q = asub.add_parser("test", help="send a test message on each channel of an enterprise")
    q.add_argument("--enterprise", required=True)
    q.set_defaults(handler=cmd_test)


def cmd_run(_args: argparse.Namespace, settings: Settings) -> int:
    from alerts.service import AlertsService
    from greenmon.cli import _stoppable

    service = AlertsService(settings)
    _stoppable(service)
    service.run()
    return 0


def cmd_rules_load(args: argparse.Namespace, settings: Settings) -> int:
    from alerts.rules import parse_rules
    from alerts.store import save_ruleset
    from greenmon.storage import db

    ruleset = parse_rules(Path(args.file).read_text("utf-8"))
    with db.connect(settings) as conn:
        n_rules, n_channels = save_ruleset(conn, ruleset, settings, replace=not args.merge)
    print(f"loaded {n_rules} rules and {n_channels} channels from {args.file}")
    return 0


def cmd_secret_key(_args: argparse.Namespace, _settings: Settings) -> int:
    from alerts.secrets import new_key

    print(new_key())
    return 0


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from alerts import store
    from greenmon.storage import db

    with db.connect(settings) as conn:
        if args.deliveries:
            print("id  alert  transition  channel  target  attempts  outcome  last_error")
            for row in store.delivery_report(conn, args.enterprise):
                print("  ".join(_cell(v) for v in row))
            return 0
        rows = store.list_alerts(conn, args.enterprise, args.state)
    print("alert  enterprise  state  value  threshold  firing_since  updated_at")
    for row in rows:
        print("  ".join(_cell(v) for v in row))
    return 0


def cmd_test(args: argparse.Namespace, settings: Settings) -> int:
    from alerts import store
    from alerts.channels import DeliveryError, MqttSender, alert_topic, send_email, send_webhook
    from alerts.secrets import unseal
    from alerts.service import test_documents
    from greenmon.errors import ServiceError
    from greenmon.storage import db

    with db.connect(settings) as conn:
        names = store.enterprise_names(conn)
        channels = store.load_channels(conn, args.enterprise)
    doc = test_documents(settings, args.enterprise, names.get(args.enterprise))
    failed = 0
    mqtt = MqttSender(settings, client_id=f"greenmon-alerts-test-{args.enterprise}")
    sends: list[tuple[str, str, str | None, str | None]] = [
        ("mqtt", alert_topic(settings, args.enterprise, doc["fingerprint"]), None, None)
    ]
    sends += [(c.kind, c.target, c.secret, c.secret_env) for c in channels if c.kind != "mqtt"]
    try:
        for kind, target, sealed, env in sends:
            try:
                if kind == "mqtt":
                    mqtt.send(target, doc)
                elif kind == "webhook":
                    secret = unseal(settings, sealed, env, f"{args.enterprise}/webhook")
                    send_webhook(target, secret or "", doc, 0)
                else:
                    send_email(settings, target, doc)
                print(f"{kind:<8} {target}: sent")
            except (DeliveryError, ServiceError) as exc:
                failed += 1
                print(f"{kind:<8} {target}: FAILED {exc}")
    finally:
        mqtt.close()
    return 1 if failed else 0
