-- Dead letters counted by kind of reason, per service instance (the records themselves,
-- with the raw payload, are in the dead-letter topic).
CREATE TABLE IF NOT EXISTS dead_letter_reasons (
    service    text NOT NULL,
    instance   text NOT NULL,
    reason     text NOT NULL,
    count      bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, instance, reason)
);
