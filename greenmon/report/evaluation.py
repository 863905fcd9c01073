"""The evaluation section of the city and district reports: data and an HTML fragment.

The report (:mod:`greenmon.report.data`) calls :func:`section` (database) and
:func:`to_html` (pure); this module does not depend on the report's layout.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from greenmon.storage.db import Conn

CLASS_NAMES = {"A": "A 优先发展", "B": "B 提升发展", "C": "C 调整转型", "D": "D 整治淘汰"}


@dataclass(frozen=True, slots=True)
class GroupCount:
    group: str  # a district or industry id
    counts: dict[str, int]  # class -> enterprises


@dataclass(frozen=True, slots=True)
class EvaluationSection:
    year: int
    district: str | None
    by_district: tuple[GroupCount, ...]
    by_industry: tuple[GroupCount, ...]
    d_list: tuple[tuple[str, str, str, float, int, str], ...]  # id, name, scale, total, rank, note
    models: tuple[tuple[str, bool, float, float], ...]  # id, acceptable, R2, CV(RMSE)


def _counts(conn: Conn, column: str, year: int, district: str | None) -> tuple[GroupCount, ...]:
    assert column in ("district", "industry")
    rows = conn.execute(
        f"SELECT e.{column}, r.class, count(*) FROM evaluation_results r JOIN enterprises e "
        "USING (enterprise_id) WHERE r.year = %(y)s AND (%(d)s::text IS NULL OR "
        "e.district = %(d)s) GROUP BY 1, 2 ORDER BY 1, 2",
        {"y": year, "d": district},
    ).fetchall()
    out: dict[str, dict[str, int]] = {}
    for group, klass, n in rows:
        out.setdefault(str(group), dict.fromkeys("ABCD", 0))[str(klass)] = int(n)
    return tuple(GroupCount(g, c) for g, c in out.items())


def section(conn: Conn, year: int, district: str | None = None) -> EvaluationSection:
    """The stored evaluation of ``year`` (the city's, or one district's)."""
    where = {"y": year, "d": district}
    d_list = conn.execute(
        "SELECT r.enterprise_id, e.name, r.scale, r.total, r.rank, r.note FROM "
        "evaluation_results r JOIN enterprises e USING (enterprise_id) WHERE r.year = %(y)s "
        "AND r.class = 'D' AND (%(d)s::text IS NULL OR e.district = %(d)s) "
        "ORDER BY r.scale, r.rank, r.enterprise_id",
        where,
    ).fetchall()
    models = conn.execute(
        "SELECT m.enterprise_id, m.acceptable, m.r2, m.cv_rmse FROM enpi_models m "
        "JOIN enterprises e USING (enterprise_id) WHERE %(d)s::text IS NULL "
        "OR e.district = %(d)s ORDER BY 1",
        where,
    ).fetchall()
    return EvaluationSection(
        year,
        district,
        _counts(conn, "district", year, district),
        _counts(conn, "industry", year, district),
        tuple((str(a), str(b), str(c), float(t), int(k), str(n)) for a, b, c, t, k, n in d_list),
        tuple((str(a), bool(b), float(r), float(c)) for a, b, r, c in models),
    )


def _table(title: str, groups: tuple[GroupCount, ...]) -> list[str]:
    head = "".join(f"<th>{html.escape(CLASS_NAMES[k])}</th>" for k in "ABCD")
    rows = [
        f"<tr><td>{html.escape(g.group)}</td>"
        + "".join(f"<td>{g.counts[k]}</td>" for k in "ABCD")
        + "</tr>"
        for g in groups
    ]
    return [f"<h3>{html.escape(title)}</h3>", f"<table><tr><th></th>{head}</tr>", *rows,
            "</table>"]  # fmt: skip


def to_html(s: EvaluationSection) -> str:
    """The section as an HTML fragment (escaped; no styles of its own)."""
    where = f"district {s.district}" if s.district else "the city"
    parts = [f"<section class=\"evaluation\"><h2>亩产效益综合评价 Comprehensive evaluation "
             f"{s.year} — {html.escape(where)}</h2>"]  # fmt: skip
    if not (s.by_district or s.models):
        parts.append("<p>No evaluation is stored for this year.</p></section>")
        return "\n".join(parts)
    parts += _table("各区市分类 Classes per district", s.by_district)
    parts += _table("各行业分类 Classes per industry", s.by_industry)
    parts.append("<h3>D 类企业 The D list</h3>")
    if s.d_list:
        parts.append("<table><tr><th>enterprise</th><th>name</th><th>scale</th><th>total</th>"
                     "<th>rank</th><th>note</th></tr>")  # fmt: skip
        parts += [f"<tr><td>{html.escape(i)}</td><td>{html.escape(n)}</td><td>{sc}</td>"
                  f"<td>{t:.2f}</td><td>{k}</td><td>{html.escape(note)}</td></tr>"
                  for i, n, sc, t, k, note in s.d_list]  # fmt: skip
        parts.append("</table>")
    else:
        parts.append("<p>No enterprise is in class D.</p>")
    bad = [m for m in s.models if not m[1]]
    parts.append(f"<p>能效基准模型 EnPI baseline models: {len(s.models)}, of which "
                 f"{len(bad)} not acceptable (ASHRAE Guideline 14: R² ≥ 0.75, CV(RMSE) ≤ 15 %, "
                 "|NMBE| ≤ 5 %)" + (": " + ", ".join(html.escape(m[0]) for m in bad)
                                    if bad else "") + ".</p>")  # fmt: skip
    parts.append("</section>")
    return "\n".join(parts)
