-- Alerts: rules and channels (data), each alert's current state, its history of
-- transitions (what Grafana annotations read) and the delivery outbox.
-- hypertable: alerts(ts)

-- Rules as loaded from YAML (greenmon alerts rules load); enterprise_id NULL: everyone's.
CREATE TABLE IF NOT EXISTS alert_rules (
    rule_id       text PRIMARY KEY,
    enterprise_id text,
    kind          text NOT NULL,
    scope         text NOT NULL,
    severity      text NOT NULL,
    enabled       boolean NOT NULL DEFAULT true,
    doc           jsonb NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Where an enterprise's alerts go besides its MQTT topic (the secret signs webhooks).
CREATE TABLE IF NOT EXISTS alert_channels (
    channel_id    bigserial PRIMARY KEY,
    enterprise_id text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('mqtt', 'webhook', 'email')),
    target        text NOT NULL,
    secret        text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (enterprise_id, kind, target)
);

-- One row per alert (fingerprint = rule/scope/entity): survives restarts of the service.
CREATE TABLE IF NOT EXISTS alert_state (
    fingerprint   text PRIMARY KEY,
    rule_id       text NOT NULL,
    scope         text NOT NULL,
    entity_id     text NOT NULL,
    enterprise_id text,
    state         text NOT NULL CHECK (state IN ('ok', 'pending', 'firing', 'resolved')),
    pending_since timestamptz,
    firing_since  timestamptz,
    observed_at   timestamptz,
    notified_at   timestamptz,
    value         double precision,
    threshold     double precision,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alert_state_enterprise_idx ON alert_state (enterprise_id, state);

-- Every transition: ts is the event time it happened at, recorded_at the wall clock.
CREATE TABLE IF NOT EXISTS alerts (
    ts            timestamptz NOT NULL,
    fingerprint   text NOT NULL,
    transition    text NOT NULL CHECK (transition IN ('pending', 'firing', 'renotify', 'resolved')),
    rule_id       text NOT NULL,
    scope         text NOT NULL,
    entity_id     text NOT NULL,
    enterprise_id text,
    severity      text NOT NULL,
    value         double precision,
    threshold     double precision,
    since         timestamptz,
    message       text NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alerts_fingerprint_idx ON alerts (fingerprint, ts);
CREATE INDEX IF NOT EXISTS alerts_enterprise_idx ON alerts (enterprise_id, ts);

-- The outbox: one row per (transition, channel); retried with back-off until delivered.
CREATE TABLE IF NOT EXISTS alert_deliveries (
    id              bigserial PRIMARY KEY,
    fingerprint     text NOT NULL,
    transition      text NOT NULL,
    enterprise_id   text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('mqtt', 'webhook', 'email')),
    target          text NOT NULL,
    payload         jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    failed_at       timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alert_deliveries_due_idx
    ON alert_deliveries (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
