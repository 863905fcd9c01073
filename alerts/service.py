"""``greenmon alerts``: evaluate alert rules, keep their state and history, deliver them.

Event-driven: a Kafka consumer (group ``alerts_group``) of the processor's window
results (``topic_windows``) evaluates threshold rules as each window arrives.
Every ``alerts_tick_s`` a timer evaluates what has no event: silent meters (by
arrival time, ``readings.stored_at``), behind-target and cap-burn (the stored
``rollups`` and ``energy_caps``), data quality (``meter_quality_daily``), and
re-notifications. State changes, history rows and outbox rows are written in one
transaction; Kafka offsets are committed after it. A restart reloads the state
from ``alert_state``, so it neither re-sends nor forgets a firing alert.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from alerts import aggregate, checks, store
from alerts.channels import alert_topic, dashboard_link, summary
from alerts.checks import Candidate
from alerts.delivery import DeliveryWorker
from alerts.engine import AlertState, Transition, evaluate, tick
from alerts.rules import Rule
from greenmon.bus import kafka as bus_kafka
from greenmon.domain import windows as alert_windows
from greenmon.errors import ServiceError
from greenmon.messages.alert import alert_document
from greenmon.observe import Counters
from greenmon.runtime.consumer import GroupConsumer, Polled
from greenmon.runtime.service import ServiceRuntime
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.sparkplug_store import stale_meters

log = logging.getLogger("greenmon.alerts")

#: how long silence is looked back for when the service starts
ARRIVAL_LOOKBACK = timedelta(days=2)
NOTIFY = ("firing", "renotify", "resolved")


class AlertsService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.counters = Counters("windows", "evaluated", "fired", "renotified", "resolved",
                                 "delivered", "failed", "lag")  # fmt: skip
        self.runtime = ServiceRuntime(settings, "alerts", self.counters)
        self._states: dict[str, AlertState] = {}
        self._last: dict[str, Candidate] = {}
        self._rules: list[Rule] = []
        self._meters: dict[str, store.MeterInfo] = {}
        self._names: dict[str, str] = {}
        self._arrivals: dict[str, datetime] = {}
        self._arrivals_at: datetime | None = None
        self._next_tick = 0.0
        self._stale = True  # in-memory state to be (re)loaded from the database
        #: positions in Kafka's committed offsets (evaluation is state, not a booking);
        #: started in run(), once the topic exists
        self.windows = GroupConsumer(
            self.runtime, settings.topic_windows, group=settings.alerts_group,
            positions_key=None, client_id="greenmon-alerts",
        )  # fmt: skip
        self.worker = DeliveryWorker(settings, self.counters)

    def stop(self) -> None:
        self.runtime.stop()

    def _db(self) -> db.Conn:
        return self.runtime.db.get()

    def run(self) -> None:
        bus_kafka.ensure_topics(self.settings, [self.settings.topic_windows])
        self.runtime.start()
        self.windows.start()
        self.worker.start()
        log.info(
            "alerts running: %s -> %s", self.settings.topic_windows, self.settings.database_url
        )
        try:
            while not self.runtime.stopping:
                polled = self.windows.poll(timeout_ms=200, max_records=5000)
                if polled:
                    self._retry("evaluating windows", self._fresh(self._on_windows, polled))
                if time.monotonic() >= self._next_tick:
                    self._next_tick = time.monotonic() + self.settings.alerts_tick_s
                    self._retry("evaluating the timer checks", self._fresh(self._on_tick))
                self.counters.set("lag", self.windows.lag())
                self.runtime.tick()
        finally:
            self.worker.stop()
            self.windows.close()
            self.runtime.close()

    def _retry(self, doing: str, work: Callable[[], None]) -> None:
        """Any database error is waited out (state is reloaded before the next attempt)."""
        self.runtime.retry(doing, work, db_errors=(psycopg.Error, ServiceError))

    def _fresh(self, work: Callable[..., None], *args: Any) -> Callable[[], None]:
        """``work`` on state as the database has it: after a failed transaction the state
        in memory may hold what was rolled back, so it is loaded again before the retry."""

        def run() -> None:
            if self._stale:
                self._reload()
            self._stale = True
            work(*args)
            self._stale = False

        return run

    def _reload(self) -> None:
        """State, rules and registry from the database (at start and after a DB fault)."""
        conn = self._db()
        with conn.transaction():
            self._states = store.load_states(conn)
            self._refresh_inputs(conn)
        log.info("loaded %d alert states, %d rules", len(self._states), len(self._rules))

    def _refresh_inputs(self, conn: db.Conn) -> None:
        self._rules = store.load_rules(conn)
        self._meters = store.meters(conn)
        self._names = store.enterprise_names(conn)

    # --- evaluation ---------------------------------------------------------------------------
    def _on_windows(self, polled: Polled) -> None:
        decoded, refused = alert_windows.decode_all(
            (f"{tp.topic}/{tp.partition}@{rec.offset}", rec.value)
            for tp, records in polled.items()
            for rec in records
        )
        for origin, reason in refused:
            self.counters.add("windows_refused")
            log.warning("refused a window record at %s: %s", origin, reason)
        windows = [w.as_mapping() for w in decoded]
        windows.sort(key=lambda w: (str(w.get("meter_id")), str(w.get("interval_start"))))
        conn = self._db()
        keys = [(str(w["meter_id"]), datetime.fromisoformat(w["interval_start"])) for w in windows]
        with conn.transaction():
            totals = store.slot_totals(conn, keys)
            candidates = [
                c
                for w, key in zip(windows, keys, strict=True)
                for c in checks.threshold_candidates(self._rules, w, totals.get(key))
            ]
            candidates += self._aggregates(conn, keys)
            self._apply(conn, candidates)
        self.counters.add("windows", len(windows))
        self.windows.commit()
        self.worker.wake()

    def _aggregates(self, conn: db.Conn, keys: list[tuple[str, datetime]]) -> list[Candidate]:
        """Threshold rules on entities: their members' stored slots, summed."""
        reqs = aggregate.requests(self._rules, keys, self._meters)
        if not reqs:
            return []
        members = sorted({m for r in reqs for m in r.members})
        slots = sorted({s for r in reqs for s in r.slots})
        stored = store.slot_quantities(conn, members, slots)
        absent, oldest = aggregate.missing(reqs, stored)
        newest = (
            store.newest_slots(conn, absent, oldest - aggregate.GRACE)
            if absent and oldest is not None
            else {}
        )
        return aggregate.candidates(reqs, stored, newest)

    def _on_tick(self) -> None:
        now = datetime.now(UTC)
        conn = self._db()
        with conn.transaction():
            self._refresh_inputs(conn)
            since = self._arrivals_at or now - ARRIVAL_LOOKBACK
            self._arrivals.update(store.arrivals_since(conn, since - timedelta(seconds=5)))
            self._arrivals_at = now
            stale = stale_meters(conn)  # Sparkplug: nodes that said they died
            candidates = checks.silent_candidates(
                self._rules, self._meters, self._arrivals, now, stale
            )
            caps = None
            for rule in self._rules:
                if rule.behind_target is not None:
                    indicator = rule.behind_target.indicator
                    ytd = store.latest_ytd(conn, rule.scope, indicator, with_intensity=True)
                    candidates += checks.target_candidates(rule, ytd, now)
                elif rule.cap_burn is not None:
                    caps = caps if caps is not None else store.energy_caps(conn)
                    ytd = store.latest_ytd(conn, "enterprise", "energy")
                    today = now.astimezone(self.settings.tz).date()
                    candidates += checks.cap_candidates(rule, ytd, caps, now, today)
                elif rule.data_quality is not None:
                    today = now.astimezone(self.settings.tz).date()
                    quality = store.latest_quality(conn, today)
                    carriers = {m: i.carrier for m, i in self._meters.items()}
                    candidates += checks.quality_candidates(rule, quality, carriers, now)
                elif rule.savings_negative is not None:
                    candidates += checks.savings_candidates(rule, store.enpi_savings(conn), now)
            self._apply(conn, candidates)
            self._renotify(conn, now)
        self.worker.wake()

    def _apply(self, conn: db.Conn, candidates: list[Candidate]) -> None:
        """Evaluate, and write state changes, history and outbox (in the caller's transaction)."""
        now = datetime.now(UTC)
        by_id = {r.id: r for r in self._rules}
        changed: dict[str, AlertState] = {}
        for c in candidates:
            fp = c.fingerprint
            old = (
                changed.get(fp)
                or self._states.get(fp)
                or AlertState(fp, c.rule.id, c.scope, c.entity_id, c.enterprise_id)
            )
            rule = by_id.get(c.rule.id, c.rule)
            for_s = rule.threshold.for_s if rule.threshold is not None else 0.0
            new, transitions = evaluate(old, c.obs, now, for_s=for_s, renotify_s=rule.renotify_s)
            self.counters.add("evaluated")
            self._last[fp] = c
            if new.state != "ok" or old.state != "ok":
                store.save_state(conn, new)
            changed[fp] = new
            for t in transitions:
                self._record(conn, rule, t, c)
        self._states.update(changed)

    def _renotify(self, conn: db.Conn, now: datetime) -> None:
        by_id = {r.id: r for r in self._rules}
        for fp, state in list(self._states.items()):
            rule = by_id.get(state.rule_id)
            if rule is None or state.state != "firing":
                continue
            new, transitions = tick(state, now, renotify_s=rule.renotify_s)
            if transitions:
                store.save_state(conn, new)
                self._states[fp] = new
                for t in transitions:
                    self._record(conn, rule, t, self._last.get(fp))

    def _record(self, conn: db.Conn, rule: Rule, t: Transition, c: Candidate | None) -> None:
        doc = alert_document(self.document(rule, t, c))
        outbox: list[tuple[str, str, dict[str, Any]]] = []
        enterprise = t.state.enterprise_id
        if t.kind in NOTIFY and enterprise is not None:
            outbox.append(("mqtt", alert_topic(self.settings, enterprise, t.fingerprint), doc))
            for ch in store.load_channels(conn, enterprise):
                if ch.kind in ("webhook", "email"):
                    outbox.append((ch.kind, ch.target, doc))
        store.record_transition(conn, t, rule.severity, summary(doc), outbox)
        counter = {"firing": "fired", "renotify": "renotified", "resolved": "resolved"}
        if t.kind in counter:
            self.counters.add(counter[t.kind])
            log.info("alert %s %s: %s", t.fingerprint, t.kind, summary(doc))

    def document(self, rule: Rule, t: Transition, c: Candidate | None) -> dict[str, Any]:
        """The alert as JSON: what every channel sends."""
        s = t.state
        return {
            "fingerprint": t.fingerprint,
            "transition": t.kind,
            "state": s.state,
            "rule_id": rule.id,
            "severity": rule.severity,
            "description": rule.description,
            "scope": s.scope,
            "entity_id": s.entity_id,
            "enterprise_id": s.enterprise_id,
            "enterprise_name": self._names.get(s.enterprise_id or ""),
            "meter_id": c.meter_id if c else (s.entity_id if s.scope == "meter" else None),
            "measure": c.measure if c else rule.kind,
            "unit": c.unit if c else "",
            "value": t.value,
            "threshold": t.threshold,
            "since": t.since.isoformat() if t.since else None,
            "at": t.at.isoformat(),
            "dashboard": dashboard_link(self.settings, s.enterprise_id),
        }


def test_documents(settings: Settings, enterprise_id: str, name: str | None) -> dict[str, Any]:
    """The document ``greenmon alerts test`` sends on every channel."""
    now = datetime.now(UTC).isoformat()
    return {
        "fingerprint": f"test/enterprise/{enterprise_id}",
        "transition": "test",
        "state": "test",
        "rule_id": "test",
        "severity": "info",
        "scope": "enterprise",
        "entity_id": enterprise_id,
        "enterprise_id": enterprise_id,
        "enterprise_name": name,
        "measure": "test",
        "value": None,
        "threshold": None,
        "since": now,
        "at": now,
        "dashboard": dashboard_link(settings, enterprise_id),
    }
