"""The evaluation parameters of the loaded plan file, stored as its tables (one row)."""

from __future__ import annotations

from psycopg.types.json import Jsonb

from greenmon.accounting.evaluation_params import EvaluationParams, parse, to_doc
from greenmon.errors import InvalidInput
from greenmon.storage.db import Conn


def save_params(conn: Conn, params: EvaluationParams) -> None:
    conn.execute(
        "INSERT INTO evaluation_params (id, doc) VALUES (1, %s) ON CONFLICT (id) DO UPDATE "
        "SET doc = EXCLUDED.doc, updated_at = now()",
        (Jsonb(to_doc(params)),),
    )


def read_params(conn: Conn) -> EvaluationParams:
    row = conn.execute("SELECT doc FROM evaluation_params WHERE id = 1").fetchone()
    if row is None:
        return EvaluationParams()
    errors: list[str] = []
    params = parse(row[0], errors)
    if errors:
        raise InvalidInput("stored evaluation parameters: " + "; ".join(errors))
    return params
