"""Layer x head heatmaps as standalone SVG: readable without colour (every cell shows its value,
axes name each layer and head, labelled heads are outlined), with a colour bar for the scale."""

from __future__ import annotations

import math
from collections.abc import Sequence

from headdb.site.escape import html_text

# Perceptually ordered (viridis-like) anchors, interpolated linearly.
_ANCHORS = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]


def _colour(t: float) -> tuple[int, int, int]:
    t = min(1.0, max(0.0, t))
    pos = t * (len(_ANCHORS) - 1)
    i = min(int(pos), len(_ANCHORS) - 2)
    f = pos - i
    a, b = _ANCHORS[i], _ANCHORS[i + 1]
    return tuple(round(a[k] + (b[k] - a[k]) * f) for k in range(3))  # type: ignore[return-value]


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


def heatmap_svg(
    grid: Sequence[Sequence[float]],
    title: str,
    labelled: set[tuple[int, int]] = frozenset(),  # type: ignore[assignment]
    cell: int = 34,
) -> str:
    n_layers, n_heads = len(grid), len(grid[0]) if grid else 0
    values = [v for row in grid for v in row if not math.isnan(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if lo >= 0 and hi <= 1:
        lo, hi = 0.0, 1.0  # attention masses and rates share one fixed scale
    span = (hi - lo) or 1.0
    show_values = n_layers * n_heads <= 24 * 32
    left, top, bar_w = 56, 40, 16
    width = max(left + n_heads * cell + 70, left + int(7.5 * len(title)) + 10)
    height = top + n_layers * cell + 44
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html_text(title)}" font-family="sans-serif">',
        f"<title>{html_text(title)}</title>",
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{html_text(title)}</text>',
        f'<text x="{left + n_heads * cell / 2}" y="{height - 6}" font-size="12" text-anchor="middle">head</text>',
        f'<text x="14" y="{top + n_layers * cell / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + n_layers * cell / 2})">layer</text>',
    ]
    for h in range(n_heads):
        parts.append(f'<text x="{left + h * cell + cell / 2}" y="{top - 6}" font-size="10" text-anchor="middle">{h}</text>')
    for layer, row in enumerate(grid):
        y = top + layer * cell
        parts.append(f'<text x="{left - 6}" y="{y + cell / 2 + 4}" font-size="10" text-anchor="end">{layer}</text>')
        for h, value in enumerate(row):
            x = left + h * cell
            r, g, b = (200, 200, 200) if math.isnan(value) else _colour((value - lo) / span)
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="rgb({r},{g},{b})">'
                f"<title>{layer}.{h}: {_fmt(value)}</title></rect>"
            )
            if show_values:
                ink = "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#fff"
                parts.append(
                    f'<text x="{x + cell / 2}" y="{y + cell / 2 + 3}" font-size="9" text-anchor="middle" fill="{ink}">{_fmt(value)}</text>'
                )
            if (layer, h) in labelled:
                parts.append(
                    f'<rect x="{x + 1.5}" y="{y + 1.5}" width="{cell - 3}" height="{cell - 3}" fill="none" '
                    'stroke="#e4007c" stroke-width="3" stroke-dasharray="5 2"/>'
                )
    bar_x, bar_h = left + n_heads * cell + 14, n_layers * cell
    for i in range(50):
        r, g, b = _colour(1 - i / 49)
        parts.append(f'<rect x="{bar_x}" y="{top + i * bar_h / 50}" width="{bar_w}" height="{bar_h / 50 + 0.5}" fill="rgb({r},{g},{b})"/>')
    parts.append(f'<text x="{bar_x + bar_w + 4}" y="{top + 8}" font-size="10">{_fmt(hi)}</text>')
    parts.append(f'<text x="{bar_x + bar_w + 4}" y="{top + bar_h}" font-size="10">{_fmt(lo)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
