"""Render a :class:`Report` as one self-contained HTML page, or its tables as CSV files.

The page is a list of sections (:data:`SECTIONS`), each a function from the report to
HTML; a new section is one more function in that list.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from html import escape
from pathlib import Path

from greenmon.report import charts, evaluation
from greenmon.report.data import Cell, Report, Table

UNITS = {"energy": "tce/10⁴ CNY", "co2": "t CO₂/10⁴ CNY", "water": "m³/10⁴ CNY"}
NAMES = {"energy": "能耗强度 energy", "co2": "碳排放强度 CO₂", "water": "用水强度 water"}
SHARES = {"reduction", "target_reduction", "margin", "completeness", "cap_used",
          "energy_margin", "co2_margin", "water_margin", "worst_margin"}  # fmt: skip
ENTITY = {"enterprise": "企业 enterprise", "district": "区市 district", "city": "全市 city"}

CSS = """
body { font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif;
       margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.behind { color: #b53a3a; font-weight: bold; } .on_track { color: #3a9a5b; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.charts svg { width: 32em; height: auto; }
"""


def _text(column: str, value: Cell) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2%}" if column in SHARES else f"{value:,.6g}"
    return str(value)


def _cell(column: str, value: Cell) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (
            f'<td class="num" data-col="{column}" data-value="{float(value)!r}">'
            f"{escape(_text(column, value))}</td>"
        )
    css = f' class="{escape(str(value))}"' if column == "status" else ""
    return f'<td data-col="{column}"{css}>{escape(_text(column, value))}</td>'


def table_html(t: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in t.header)
    body = "".join(
        "<tr>" + "".join(_cell(h, v) for h, v in zip(t.header, row, strict=True)) + "</tr>"
        for row in t.rows
    )
    if not t.rows:
        body = f'<tr><td colspan="{len(t.header)}">none</td></tr>'
    return (
        f'<h2>{escape(t.title)}</h2><table id="{t.name}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _charts(report: Report) -> str:
    out = [charts.daily_by_carrier("分品种日能耗 Energy by carrier and day (tce)", report.daily)]
    months = [r.month for r in report.ytd]
    last = report.ytd[-1].indicators
    for name, unit in UNITS.items():
        statuses = [r.indicators[name] for r in report.ytd]  # type: ignore[index]
        s = last[name]  # type: ignore[index]
        out.append(
            charts.intensity(f"{NAMES[name]} vs 目标路径 trajectory", unit, months,
                             [x.intensity for x in statuses], s.trajectory, s.baseline_intensity)
        )  # fmt: skip
    out.append(
        charts.reductions(
            "累计降幅 Cumulative reduction since 2020 (YTD)",
            {n: s.reduction for n, s in last.items()},
            {n: s.target_reduction for n, s in last.items()},
        )
    )
    ranking = report.tables.get("ranking_district")
    if ranking is not None and ranking.rows:
        out.append(
            charts.margins("区市排名 Districts: worst margin to the trajectory",
                           [f"{r[2]}" for r in ranking.rows], [_share(r[3]) for r in ranking.rows])
        )  # fmt: skip
    return '<div class="charts">' + "".join(out) + "</div>"


def _share(value: Cell) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _heading(report: Report) -> str:
    title = f"greenmon {report.name} — {report.month:%Y-%m} 月度报告 monthly report"
    kind = f"{ENTITY[report.entity]} {report.entity_id}"
    return f"<h1>{escape(title)}</h1><p>{escape(kind)}</p>"


def _summary(report: Report) -> str:
    r = report.ytd[-1]
    return (
        f'<p>状态 Status (year to date): <b class="{escape(r.status)}">{escape(r.status)}</b>; '
        f"value-added {_text('value_added', r.value_added)} ×10⁴ CNY (constant 2020 prices); "
        f"energy {_text('energy_tce', r.energy_tce)} tce (excluded "
        f"{_text('excluded_tce', r.excluded_tce)} tce), CO₂ {_text('co2_t', r.co2_t)} t, "
        f"water {_text('water_m3', r.water_m3)} m³."
        + (f" Note: {escape(r.reason)}" if r.reason else "")
        + "</p>"
    )


def _tables(*names: str) -> Callable[[Report], str]:
    def render(report: Report) -> str:
        return "".join(table_html(report.tables[n]) for n in names if n in report.tables)

    return render


#: the page, top to bottom
def _evaluation(report: Report) -> str:
    """The year's 亩产效益 classes and EnPI models (city and district reports)."""
    return evaluation.to_html(report.evaluation) if report.evaluation is not None else ""


SECTIONS: list[Callable[[Report], str]] = [
    _heading,
    _summary,
    _tables("ytd", "month"),
    _charts,
    _tables("ranking_district", "ranking_industry", "members"),
    _tables("consumption", "trend", "projection", "quality", "alerts", "factors"),
    _evaluation,
]


def to_html(report: Report) -> str:
    title = f"greenmon {report.name} — {report.month:%Y-%m} 月度报告"
    body = "".join(section(report) for section in SECTIONS)
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>{body}"
        "<p><small>Intensities per 10⁴ CNY of industrial value-added; reductions since the "
        "2020 baseline. Generated by greenmon.</small></p></body></html>\n"
    )


def write_csv(report: Report, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for t in report.tables.values():
        path = folder / f"{t.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(t.header)
            for row in t.rows:
                writer.writerow(
                    ["" if v is None else repr(v) if isinstance(v, float) else v for v in row]
                )
        out.append(path)
    return out
