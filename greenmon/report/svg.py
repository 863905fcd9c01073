"""Small inline-SVG charts (no JavaScript, no network): bars and lines with axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 640, 240, 70, 40, 20, 150
COLORS = ("#2f6db5", "#d9822b", "#3a9a5b", "#b53a3a", "#7a55b0", "#888888")


def _scale(values: Sequence[float]) -> tuple[float, float]:
    lo = min(0.0, *values) if values else 0.0
    hi = max(values) if values else 1.0
    return lo, hi if hi > lo else lo + 1.0


def _frame(title: str, lo: float, hi: float, unit: str) -> list[str]:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">',
        f'<text x="{PAD_L}" y="14" font-size="12" font-weight="bold">{escape(title)}</text>',
    ]
    for i in range(5):
        value = lo + (hi - lo) * i / 4
        y = H - PAD_B - (H - PAD_B - PAD_T) * i / 4
        parts.append(
            f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{value:.4g}</text>"
        )
    parts.append(
        f'<text x="12" y="{PAD_T + 10}" font-size="10" transform="rotate(-90 12 {PAD_T + 10})" '
        f'text-anchor="end">{escape(unit)}</text>'
    )
    return parts


def bars(title: str, labels: Sequence[str], values: Sequence[float], unit: str) -> str:
    lo, hi = _scale(values)
    parts = _frame(title, lo, hi, unit)
    span = (W - PAD_L - PAD_R) / max(len(values), 1)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        top = H - PAD_B - (H - PAD_B - PAD_T) * (value - lo) / (hi - lo)
        x = PAD_L + i * span + span * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{top:.1f}" width="{span * 0.7:.1f}" '
            f'height="{H - PAD_B - top:.1f}" fill="{COLORS[i % len(COLORS)]}">'
            f"<title>{escape(label)}: {value:.6g} {escape(unit)}</title></rect>"
            f'<text x="{x + span * 0.35:.1f}" y="{H - PAD_B + 14}" font-size="10" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def lines(
    title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], unit: str
) -> str:
    values = [v for s in series.values() for v in s if v is not None]
    lo, hi = _scale(values)
    parts = _frame(title, lo, hi, unit)
    n = max(len(labels), 1)
    step = (W - PAD_L - PAD_R) / max(n - 1, 1)
    for i, label in enumerate(labels):
        parts.append(
            f'<text x="{PAD_L + i * step:.1f}" y="{H - PAD_B + 14}" font-size="10" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for k, (name, points) in enumerate(series.items()):
        color = COLORS[k % len(COLORS)]
        coords = [
            (PAD_L + i * step, H - PAD_B - (H - PAD_B - PAD_T) * (v - lo) / (hi - lo))
            for i, v in enumerate(points)
            if v is not None
        ]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
        for x, y in coords:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
        parts.append(
            f'<rect x="{W - PAD_R + 10}" y="{PAD_T + 16 * k}" width="10" height="10" '
            f'fill="{color}"/><text x="{W - PAD_R + 24}" y="{PAD_T + 16 * k + 9}" '
            f'font-size="10">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
