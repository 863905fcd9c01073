"""The alerts' database side: rules, channels, state, history, outbox, and the inputs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from alerts.engine import AlertState, Transition
from alerts.rules import Channel, Rule, RuleSet, rule_from_json, rule_to_json
from alerts.secrets import seal, unseal
from greenmon.settings import Settings
from greenmon.storage.db import Conn


# --- rules and channels ----------------------------------------------------------------------
def save_ruleset(
    conn: Conn, ruleset: RuleSet, settings: Settings, *, replace: bool = True
) -> tuple[int, int]:
    """Store the rules (upsert by id) and channels; ``replace`` drops rules not in the file.

    A literal webhook secret is stored sealed; a ``secret_env`` only by its name."""
    sealed = {
        id(c): seal(settings, c.secret, c.label) if c.secret is not None else None
        for c in ruleset.channels
    }
    with conn.transaction():
        if replace:
            conn.execute(
                "DELETE FROM alert_rules WHERE NOT (rule_id = ANY(%s))",
                ([r.id for r in ruleset.rules],),
            )
        for r in ruleset.rules:
            conn.execute(
                "INSERT INTO alert_rules (rule_id, enterprise_id, kind, scope, severity, enabled, "
                "doc) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (rule_id) DO UPDATE SET "
                "enterprise_id = EXCLUDED.enterprise_id, kind = EXCLUDED.kind, "
                "scope = EXCLUDED.scope, severity = EXCLUDED.severity, "
                "enabled = EXCLUDED.enabled, doc = EXCLUDED.doc, updated_at = now()",
                (r.id, r.enterprise, r.kind, r.scope, r.severity, r.enabled,
                 json.dumps(rule_to_json(r))),
            )  # fmt: skip
        enterprises = sorted({c.enterprise for c in ruleset.channels})
        if enterprises:
            conn.execute("DELETE FROM alert_channels WHERE enterprise_id = ANY(%s)", (enterprises,))
        for c in ruleset.channels:
            conn.execute(
                "INSERT INTO alert_channels (enterprise_id, kind, target, secret, secret_env) "
                "VALUES (%s, %s, %s, %s, %s)",
                (c.enterprise, c.kind, c.target, sealed[id(c)], c.secret_env),
            )
    return len(ruleset.rules), len(ruleset.channels)


def load_rules(conn: Conn) -> list[Rule]:
    rows = conn.execute("SELECT doc FROM alert_rules WHERE enabled ORDER BY rule_id").fetchall()
    return [rule_from_json(r[0]) for r in rows]


def load_channels(conn: Conn, enterprise_id: str | None = None) -> list[Channel]:
    """The channels as stored (secrets sealed or named, see :mod:`alerts.secrets`)."""
    rows = conn.execute(
        "SELECT enterprise_id, kind, target, secret, secret_env FROM alert_channels "
        "WHERE %(e)s::text IS NULL OR enterprise_id = %(e)s ORDER BY channel_id",
        {"e": enterprise_id},
    ).fetchall()
    return [
        Channel(enterprise=r[0], kind=r[1], target=r[2], secret=r[3], secret_env=r[4]) for r in rows
    ]


def channel_secret(conn: Conn, settings: Settings, enterprise_id: str, target: str) -> str | None:
    """The webhook secret to sign with (None: the channel is no longer configured)."""
    row = conn.execute(
        "SELECT secret, secret_env FROM alert_channels WHERE enterprise_id = %s "
        "AND kind = 'webhook' AND target = %s",
        (enterprise_id, target),
    ).fetchone()
    if row is None:
        return None
    return unseal(settings, row[0], row[1], f"{enterprise_id}/webhook")


# --- state, history, outbox ------------------------------------------------------------------
_STATE_COLS = [f.name for f in fields(AlertState)]


def load_states(conn: Conn) -> dict[str, AlertState]:
    rows = conn.execute(f"SELECT {', '.join(_STATE_COLS)} FROM alert_state").fetchall()
    return {r[0]: AlertState(*r) for r in rows}


def save_state(conn: Conn, s: AlertState) -> None:
    cols = ", ".join(_STATE_COLS)
    marks = ", ".join(["%s"] * len(_STATE_COLS))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _STATE_COLS[1:])
    conn.execute(
        f"INSERT INTO alert_state ({cols}) VALUES ({marks}) ON CONFLICT (fingerprint) "
        f"DO UPDATE SET {updates}, updated_at = now()",
        [getattr(s, c) for c in _STATE_COLS],
    )


def record_transition(
    conn: Conn,
    t: Transition,
    severity: str,
    message: str,
    outbox: Iterable[tuple[str, str, dict[str, Any]]],
) -> None:
    """One history row, and one outbox row per (channel, target, document)."""
    s = t.state
    conn.execute(
        "INSERT INTO alerts (ts, fingerprint, transition, rule_id, scope, entity_id, "
        "enterprise_id, severity, value, threshold, since, message) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (t.at, t.fingerprint, t.kind, s.rule_id, s.scope, s.entity_id, s.enterprise_id,
         severity, t.value, t.threshold, t.since, message),
    )  # fmt: skip
    for channel, target, doc in outbox:
        conn.execute(
            "INSERT INTO alert_deliveries (fingerprint, transition, enterprise_id, channel, "
            "target, payload) VALUES (%s, %s, %s, %s, %s, %s)",
            (t.fingerprint, t.kind, s.enterprise_id, channel, target, json.dumps(doc)),
        )


@dataclass(frozen=True)
class Delivery:
    id: int
    fingerprint: str
    enterprise_id: str
    channel: str
    target: str
    payload: dict[str, Any]
    attempts: int


def due_deliveries(conn: Conn, limit: int = 50) -> list[Delivery]:
    """Deliveries due now, oldest first; one waits while an older one of its alert and
    channel target is pending, so a receiver sees an alert's transitions in order."""
    rows = conn.execute(
        "SELECT d.id, d.fingerprint, d.enterprise_id, d.channel, d.target, d.payload, d.attempts "
        "FROM alert_deliveries d WHERE d.delivered_at IS NULL AND d.failed_at IS NULL "
        "AND d.next_attempt_at <= now() AND NOT EXISTS (SELECT 1 FROM alert_deliveries o "
        "WHERE o.fingerprint = d.fingerprint AND o.channel = d.channel AND o.target = d.target "
        "AND o.id < d.id AND o.delivered_at IS NULL AND o.failed_at IS NULL) "
        "ORDER BY d.id LIMIT %s",
        (limit,),
    ).fetchall()
    return [Delivery(*r) for r in rows]


def mark_delivered(conn: Conn, delivery_id: int) -> None:
    conn.execute(
        "UPDATE alert_deliveries SET delivered_at = now(), attempts = attempts + 1, "
        "last_error = NULL WHERE id = %s",
        (delivery_id,),
    )


def mark_failed(
    conn: Conn, delivery_id: int, error: str, retry_in_s: float, give_up_s: float
) -> bool:
    """Record a failed attempt; True when the delivery is given up (too old)."""
    row = conn.execute(
        "UPDATE alert_deliveries SET attempts = attempts + 1, last_error = %s, "
        "next_attempt_at = now() + make_interval(secs => %s), "
        "failed_at = CASE WHEN created_at < now() - make_interval(secs => %s) THEN now() END "
        "WHERE id = %s RETURNING failed_at IS NOT NULL",
        (error[:500], retry_in_s, give_up_s, delivery_id),
    ).fetchone()
    return bool(row and row[0])


# --- inputs of the evaluations ----------------------------------------------------------------
@dataclass(frozen=True)
class MeterInfo:
    meter_id: str
    enterprise_id: str
    carrier: str
    unit: str
    district: str = ""
    industry: str = ""


def meters(conn: Conn) -> dict[str, MeterInfo]:
    rows = conn.execute(
        "SELECT m.meter_id, m.enterprise_id, m.carrier, m.unit, e.district, e.industry "
        "FROM meters m JOIN enterprises e USING (enterprise_id)"
    ).fetchall()
    return {r[0]: MeterInfo(*r) for r in rows}


def enterprise_names(conn: Conn) -> dict[str, str]:
    return dict(conn.execute("SELECT enterprise_id, name FROM enterprises").fetchall())


def slot_totals(conn: Conn, keys: list[tuple[str, datetime]]) -> dict[tuple[str, datetime], float]:
    """Stored quantity of each (meter, interval_start)."""
    if not keys:
        return {}
    rows = conn.execute(
        "SELECT c.meter_id, c.interval_start, c.quantity FROM consumption_15m c "
        "JOIN unnest(%s::text[], %s::timestamptz[]) AS k(m, t) "
        "ON c.meter_id = k.m AND c.interval_start = k.t",
        ([k[0] for k in keys], [k[1] for k in keys]),
    ).fetchall()
    return {(r[0], r[1]): float(r[2]) for r in rows}


def slot_quantities(
    conn: Conn, meter_ids: list[str], slots: list[datetime]
) -> dict[tuple[str, datetime], float]:
    """Stored quantity of those meters in those slots (the rows that exist)."""
    if not meter_ids or not slots:
        return {}
    rows = conn.execute(
        "SELECT meter_id, interval_start, quantity FROM consumption_15m "
        "WHERE meter_id = ANY(%s) AND interval_start = ANY(%s)",
        (meter_ids, slots),
    ).fetchall()
    return {(r[0], r[1]): float(r[2]) for r in rows}


def newest_slots(conn: Conn, meter_ids: list[str], since: datetime) -> dict[str, datetime | None]:
    """Each meter's newest stored 15-minute slot from ``since`` on (None: none since)."""
    rows = conn.execute(
        "SELECT k.m, (SELECT max(c.interval_start) FROM consumption_15m c "
        "WHERE c.meter_id = k.m AND c.interval_start >= %s) FROM unnest(%s::text[]) AS k(m)",
        (since, meter_ids),
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def arrivals_since(conn: Conn, since: datetime) -> dict[str, datetime]:
    """Newest wall-clock arrival (stored_at) per meter of readings stored after ``since``."""
    rows = conn.execute(
        "SELECT meter_id, max(stored_at) FROM readings WHERE stored_at > %s GROUP BY 1", (since,)
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def latest_ytd(
    conn: Conn, entity: str, indicator: str, *, with_intensity: bool = False
) -> list[tuple[str, date, float | None, float | None, float | None]]:
    """(entity_id, month, intensity, trajectory, energy_tce) of each entity's newest ytd row
    with data (a year without readings yet, or one the roll-ups reach only for its r12
    window, does not hide the last year that has them). ``with_intensity``: the newest
    row whose intensity and trajectory are known (value-added is filed after a month
    ends, so the current month's row has none yet: the last filed month still counts)."""
    if indicator not in ("energy", "co2", "water"):
        raise ValueError(indicator)
    known = (
        f"AND {indicator}_intensity IS NOT NULL AND {indicator}_trajectory IS NOT NULL "
        if with_intensity
        else ""
    )
    rows = conn.execute(
        f"SELECT DISTINCT ON (entity_id) entity_id, month, {indicator}_intensity, "
        f"{indicator}_trajectory, energy_tce FROM rollups WHERE entity = %s AND kind = 'ytd' "
        f"AND (energy_tce > 0 OR co2_t > 0 OR water_m3 > 0) {known}"
        "ORDER BY entity_id, month DESC",
        (entity,),
    ).fetchall()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def energy_caps(conn: Conn) -> dict[tuple[str, int], float]:
    rows = conn.execute("SELECT enterprise_id, year, energy_tce FROM energy_caps").fetchall()
    return {(r[0], int(r[1])): float(r[2]) for r in rows}


def latest_quality(conn: Conn, before: date) -> list[tuple[str, str, date, float, int, int]]:
    """(meter, enterprise, day, completeness, quarantined, resets) of each meter's newest
    complete day (before ``before``, the local today)."""
    rows = conn.execute(
        "SELECT DISTINCT ON (meter_id) meter_id, enterprise_id, day, completeness, quarantined, "
        "resets FROM meter_quality_daily WHERE day < %s ORDER BY meter_id, day DESC",
        (before,),
    ).fetchall()
    return [(r[0], r[1], r[2], float(r[3]), int(r[4]), int(r[5])) for r in rows]


# --- reports -----------------------------------------------------------------------------------
def list_alerts(conn: Conn, enterprise_id: str | None, state: str | None) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT fingerprint, enterprise_id, state, value, threshold, firing_since, updated_at "
        "FROM alert_state WHERE state <> 'ok' AND (%(e)s::text IS NULL OR enterprise_id = %(e)s) "
        "AND (%(s)s::text IS NULL OR state = %(s)s) ORDER BY enterprise_id, fingerprint",
        {"e": enterprise_id, "s": state},
    ).fetchall()


def delivery_report(conn: Conn, enterprise_id: str | None) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT id, fingerprint, transition, channel, target, attempts, "
        "CASE WHEN delivered_at IS NOT NULL THEN 'delivered' WHEN failed_at IS NOT NULL "
        "THEN 'failed' ELSE 'retrying' END, last_error FROM alert_deliveries "
        "WHERE %(e)s::text IS NULL OR enterprise_id = %(e)s ORDER BY id",
        {"e": enterprise_id},
    ).fetchall()


def enpi_savings(conn: Conn) -> list[tuple[str, date, float]]:
    """Monthly savings against each enterprise's acceptable EnPI model (migration 0013)."""
    rows = conn.execute(
        "SELECT enterprise_id, month, savings_tce FROM enpi_savings WHERE acceptable"
    ).fetchall()
    return [(str(e), m, float(v)) for e, m, v in rows]
