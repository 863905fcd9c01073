"""The report's charts, drawn with matplotlib as self-contained SVG.

Text is written as paths (``svg.fonttype = "path"``), so a chart looks the same in any
browser, with or without fonts; Chinese labels need a CJK font on the machine that
writes the report (scripts/setup.sh installs one). A glyph matplotlib cannot find is an
error, not a silent box. Every drawn data element carries an id starting ``gm-data``,
so a test can tell a chart with data from an empty frame.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import font_manager

from greenmon.errors import GreenmonError

CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC",
             "Microsoft YaHei", "SimHei")  # fmt: skip
COLORS = ("#2f6db5", "#d9822b", "#3a9a5b", "#b53a3a", "#7a55b0", "#888888", "#c4a000", "#17becf")
_GLYPH = re.compile(r"Glyph \d+ .*missing from font", re.IGNORECASE)


class ChartError(GreenmonError):
    """A chart cannot be drawn correctly (no CJK font, a missing glyph)."""


def cjk_font() -> str:
    """The first installed CJK font family; ChartError naming what to install if none."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FONTS:
        if family in names:
            return family
    raise ChartError(
        "no CJK font for the report's Chinese labels (looked for "
        f"{', '.join(CJK_FONTS)}): install fonts-wqy-microhei (scripts/setup.sh does)"
    )


@contextmanager
def _figure(width: float = 6.4, height: float = 3.0) -> Iterator[tuple[Any, Any]]:
    family = [cjk_font(), "DejaVu Sans"]
    with (
        matplotlib.rc_context(
            {"svg.fonttype": "path", "font.family": family, "font.size": 9,
             "axes.unicode_minus": False, "svg.hashsalt": "greenmon"}
        ),
        warnings.catch_warnings(record=True) as caught,
    ):  # fmt: skip
        warnings.simplefilter("always")
        fig, ax = plt.subplots(figsize=(width, height))
        try:
            yield fig, ax
        finally:
            plt.close(fig)
        missing = [str(w.message) for w in caught if _GLYPH.search(str(w.message))]
        if missing:
            raise ChartError(f"a chart label has a glyph no installed font has: {missing[0]}")


def _svg(fig: Any) -> str:
    out = io.StringIO()
    fig.tight_layout()
    fig.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg") :]  # the XML prolog and doctype do not belong inline


def intensity(title: str, unit: str, months: Sequence[date], values: Sequence[float | None],
              trajectory: float | None, baseline: float | None) -> str:  # fmt: skip
    """Year-to-date intensity by month against this year's trajectory and the baseline."""
    with _figure() as (fig, ax):
        labels = [f"{m:%Y-%m}" for m in months]
        xs = [i for i, v in enumerate(values) if v is not None]
        ax.plot(xs, [values[i] for i in xs], "o-", color=COLORS[0], lw=2, ms=7,
                label="年初至今强度 YTD intensity", gid="gm-data-intensity")  # fmt: skip
        if trajectory is not None:
            ax.axhline(trajectory, color=COLORS[1], ls="--", lw=1.5,
                       label="目标路径 trajectory", gid="gm-data-trajectory")  # fmt: skip
        if baseline is not None:
            ax.axhline(baseline, color=COLORS[5], ls=":", lw=1.5,
                       label="2020 基准 baseline", gid="gm-data-baseline")  # fmt: skip
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlim(-0.6, max(len(labels) - 0.4, 0.6))
        shown = [v for v in (*values, trajectory, baseline) if v is not None]
        ax.set_ylim(0, 1.2 * max(shown) if shown and max(shown) > 0 else 1.0)
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        ax.grid(axis="y", color="#ddd")
        return _svg(fig)


def reductions(title: str, achieved: Mapping[str, float | None],
               target: Mapping[str, float | None]) -> str:  # fmt: skip
    """Cumulative reduction since the base year against the plan's, per indicator (in %)."""
    with _figure() as (fig, ax):
        names = list(achieved)
        xs = range(len(names))
        got = [100 * (achieved[n] or 0.0) for n in names]
        want = [100 * (target[n] or 0.0) for n in names]
        bars = ax.bar([x - 0.2 for x in xs], got, 0.4, color=COLORS[0], label="已实现 achieved")
        for bar in bars:
            bar.set_gid("gm-data-achieved")
        bars = ax.bar([x + 0.2 for x in xs], want, 0.4, color=COLORS[1], label="目标 target")
        for bar in bars:
            bar.set_gid("gm-data-target")
        ax.axhline(0, color="#444", lw=0.8)
        ax.set_xticks(list(xs), names)
        ax.set_ylabel("% since 2020")
        ax.set_title(title)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        ax.grid(axis="y", color="#ddd")
        return _svg(fig)


def daily_by_carrier(title: str, daily: Sequence[tuple[date, str, float]]) -> str:
    """Energy (tce) per day of the month, stacked by carrier."""
    days = sorted({d for d, _c, _v in daily})
    carriers = sorted({c for _d, c, _v in daily})
    value = {(d, c): v for d, c, v in daily}
    with _figure() as (fig, ax):
        bottom = [0.0] * len(days)
        for k, carrier in enumerate(carriers):
            heights = [value.get((d, carrier), 0.0) for d in days]
            bars = ax.bar([f"{d:%m-%d}" for d in days], heights, 0.7, bottom=bottom,
                          color=COLORS[k % len(COLORS)], label=carrier)  # fmt: skip
            for bar in bars:
                bar.set_gid("gm-data-carrier")
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.set_ylabel("tce")
        ax.set_title(title)
        if carriers:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        ax.grid(axis="y", color="#ddd")
        return _svg(fig)


def margins(title: str, labels: Sequence[str], values: Sequence[float | None]) -> str:
    """Horizontal bars of the margin to the trajectory (%): ahead right, behind left."""
    with _figure(height=max(2.2, 0.32 * len(labels) + 1.0)) as (fig, ax):
        shown = [100 * (v or 0.0) for v in values]
        colors = [COLORS[2] if v >= 0 else COLORS[3] for v in shown]
        bars = ax.barh(list(labels), shown, color=colors)
        for bar in bars:
            bar.set_gid("gm-data-margin")
        ax.axvline(0, color="#444", lw=0.8)
        ax.invert_yaxis()
        ax.set_xlabel("% margin to the trajectory (+ ahead, − behind)")
        ax.set_title(title)
        ax.grid(axis="x", color="#ddd")
        return _svg(fig)
