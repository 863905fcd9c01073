"""The reference sink of the streaming benchmark: the least a pipeline can do.

    .venv/bin/python -m benchmarks.stream_sink HOST PORT PREFIX DSN CLIENT_ID

One paho subscriber (persistent session, QoS 1, acknowledged as soon as the
callback returns) to ``{prefix}/+/+/reading`` and ``{prefix}/+/batch``; a writer
thread binary-COPYs what arrived into ``ref_readings(meter_id, ts, value)``, a
hypertable, and commits, over and over. No Kafka, no checks, no dead letters.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

TABLE = "ref_readings"
COPY = f"COPY {TABLE} (meter_id, ts, value) FROM STDIN (FORMAT BINARY)"
CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    meter_id text NOT NULL, ts timestamptz NOT NULL, value double precision NOT NULL
);
SELECT create_hypertable('{TABLE}', 'ts', if_not_exists => TRUE);
"""

Row = tuple[str, datetime, float]


class Sink:
    def __init__(self, prefix: str, dsn: str, client_id: str) -> None:
        self.prefix = prefix
        self.dsn = dsn
        self.rows: list[Row] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, *_args: object) -> None:
        client.subscribe([(f"{self.prefix}/+/+/reading", 1), (f"{self.prefix}/+/batch", 1)])

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        doc = json.loads(msg.payload)
        if msg.topic.endswith("/batch"):
            rows = [
                (r["meter"], datetime.fromisoformat(r["ts"]), float(r["value"]))
                for r in doc["readings"]
            ]
        else:
            meter = msg.topic.split("/")[-2]
            rows = [(meter, datetime.fromisoformat(doc["ts"]), float(doc["value"]))]
        with self.cond:
            self.rows += rows
            self.cond.notify()

    def write_forever(self) -> None:
        with psycopg.connect(self.dsn) as conn:
            conn.execute(CREATE)
            conn.commit()
            while True:
                with self.cond:
                    while not self.rows:
                        self.cond.wait()
                    rows, self.rows = self.rows, []
                with (
                    conn.cursor() as cur,
                    cur.copy(COPY) as cp,
                ):
                    cp.set_types(["text", "timestamptz", "float8"])
                    for row in rows:
                        cp.write_row(row)
                conn.commit()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, prefix, dsn, client_id = args
    sink = Sink(prefix, dsn, client_id)
    sink.client.max_inflight_messages_set(1000)
    sink.client.connect(host, int(port), keepalive=30)
    sink.client.loop_start()
    sink.write_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
