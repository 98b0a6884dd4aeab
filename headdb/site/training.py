"""Heads across training on the site: one page per model with more than one stored training step.

For each head type the page shows small multiples (one panel per head, laid out layer x head:
the head's score over the training steps, a filled dot at each step where it is labelled; heads
labelled at the last step get a solid magenta frame, heads labelled only earlier a dashed one)
and a table of the steps at which each label first holds and from which it holds to the end.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

from headdb.results import FirstLabel, Training, TrainingPoint
from headdb.site.escape import html_text, md_text

PANEL_W, PANEL_H, GAP = 96, 58, 8
HIGHLIGHT = "#e4007c"


def _fmt(value: float) -> str:
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


def small_multiples_svg(
    points: Sequence[TrainingPoint],
    n_layers: int,
    n_heads: int,
    title: str,
) -> str:
    """Standalone SVG: a panel per head (rows: layers, columns: heads) plotting score over step.

    Every panel shares the x axis (first to last step) and the y axis (the scores' range, widened
    to include 0, and 1 when the scores lie within [0, 1]), so panels compare at a glance."""
    series: dict[tuple[int, int], list[TrainingPoint]] = defaultdict(list)
    for p in points:
        series[(p.layer, p.head)].append(p)
    steps = sorted({p.step for p in points})
    scores = [p.score for p in points if p.score is not None and not math.isnan(p.score)]
    lo, hi = (min(scores + [0.0]), max(scores + [0.0])) if scores else (0.0, 1.0)
    if lo >= 0 and hi <= 1:
        lo, hi = 0.0, 1.0
    span = (hi - lo) or 1.0
    first, last = (steps[0], steps[-1]) if steps else (0, 1)
    x_span = (last - first) or 1
    left, top, inner = 46, 58, 4
    width = left + n_heads * (PANEL_W + GAP) + 10
    width = max(width, left + int(7.2 * len(title)) + 10)
    height = top + n_layers * (PANEL_H + GAP) + 34

    def x_of(step: int, x0: float) -> float:
        return x0 + inner + (step - first) / x_span * (PANEL_W - 2 * inner)

    def y_of(score: float, y0: float) -> float:
        return y0 + PANEL_H - inner - (score - lo) / span * (PANEL_H - 2 * inner)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{html_text(title)}" font-family="sans-serif">',
        f"<title>{html_text(title)}</title>",
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{html_text(title)}</text>',
        f'<text x="{left}" y="32" font-size="10">score {_fmt(lo)} to {_fmt(hi)} (each panel), training step '
        f"{first:,} to {last:,}; dots: labelled</text>",
        f'<text x="{left + n_heads * (PANEL_W + GAP) / 2}" y="{height - 6}" font-size="12" text-anchor="middle">head</text>',
        f'<text x="14" y="{top + n_layers * (PANEL_H + GAP) / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + n_layers * (PANEL_H + GAP) / 2})">layer</text>',
    ]
    for h in range(n_heads):
        parts.append(f'<text x="{left + h * (PANEL_W + GAP) + PANEL_W / 2}" y="{top - 4}" font-size="10" '
                     f'text-anchor="middle">{h}</text>')
    for layer in range(n_layers):
        y0 = top + layer * (PANEL_H + GAP)
        parts.append(f'<text x="{left - 6}" y="{y0 + PANEL_H / 2 + 4}" font-size="10" text-anchor="end">{layer}</text>')
        for h in range(n_heads):
            x0 = left + h * (PANEL_W + GAP)
            panel = series.get((layer, h), [])
            labelled_last = bool(panel) and panel[-1].step == last and any(p.label for p in panel if p.step == last)
            labelled_ever = any(p.label for p in panel)
            if labelled_last:
                frame = f'stroke="{HIGHLIGHT}" stroke-width="2.5"'
            elif labelled_ever:
                frame = f'stroke="{HIGHLIGHT}" stroke-width="1.5" stroke-dasharray="4 2"'
            else:
                frame = 'stroke="#bbb" stroke-width="1"'
            summary = ", ".join(f"{p.step:,}: {_fmt(p.score)}{' (labelled)' if p.label else ''}"
                                for p in panel if p.score is not None)
            parts.append(f'<g><title>head {layer}.{h}: {html_text(summary) or "no scores"}</title>')
            parts.append(f'<rect x="{x0}" y="{y0}" width="{PANEL_W}" height="{PANEL_H}" fill="#fff" {frame}/>')
            if lo < 0 < hi:
                zero = y_of(0.0, y0)
                parts.append(f'<line x1="{x0}" y1="{zero:.1f}" x2="{x0 + PANEL_W}" y2="{zero:.1f}" stroke="#ddd"/>')
            xy = [(x_of(p.step, x0), y_of(p.score, y0), p.label) for p in panel
                  if p.score is not None and not math.isnan(p.score)]
            if len(xy) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in xy)
                parts.append(f'<polyline points="{path}" fill="none" stroke="#3b528b" stroke-width="1.5"/>')
            for x, y, label in xy:
                if label:
                    parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{HIGHLIGHT}"/>')
            parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


def _step(value: int | None) -> str:
    return "never" if value is None else f"{value:,}"


def training_page(
    name: str,
    training: Training,
    images: Mapping[str, str],
    type_names: Mapping[str, str],
    revisions: Sequence[tuple[str, int]],
    model_page: str,
) -> str:
    """The Markdown page of one model's heads across training; ``images`` maps head-type slugs to
    SVG paths relative to the page."""
    from headdb.site.render import _front_matter, _table, type_link

    steps = training.steps
    out = [
        _front_matter(f"Training: {name}"),
        f"# Heads across training: {md_text(name)}\n\n",
        f"Detector results of [{md_text(name)}]({model_page}) at {len(steps)} training steps "
        f"({steps[0]:,} to {steps[-1]:,}; revisions {md_text(', '.join(r for r, _ in revisions))}). "
        "Each panel is one head (rows: layers, columns: heads) and plots its score over training; a dot "
        "marks a step at which the head is labelled. A solid frame marks a head labelled at the last "
        "step, a dashed frame one labelled only earlier.\n\n"
        "**First labelled** is the earliest step at which the head's label holds; **labelled from** is "
        "the earliest step from which it holds at every later step, the last included (\"not at the "
        "end\" if it does not hold at the last step).\n\n",
    ]
    by_type: dict[str, list[FirstLabel]] = defaultdict(list)
    for f in training.first_labels:
        by_type[f.head_type].append(f)
    for slug in training.head_types:
        out.append(f"## {type_link(slug, type_names, '../taxonomy/')}\n\n")
        label = md_text(type_names.get(slug, slug))
        out.append(f"![{label} scores of {md_text(name)} over training]({images[slug]})\n\n")
        rows = sorted((f for f in by_type[slug] if f.first_step is not None),
                      key=lambda f: (f.first_step or 0, f.layer, f.head))
        if not rows:
            out.append(f"No head is labelled as {label} at any of these steps.\n\n")
            continue
        out.append(_table(
            ("head", "first labelled", "labelled from", "labelled at", "score at the last step"),
            [(f.coordinate, _step(f.first_step), "not at the end" if f.stable_step is None else _step(f.stable_step),
              f"{f.n_labelled} of {f.n_steps} steps", "" if f.final_score is None else f"{f.final_score:.3f}")
             for f in rows],
        ) + "\n\n")
    return "".join(out)


def training_index(families: Sequence[tuple[str, str, Training]], model_links: Mapping[str, str]) -> str:
    """The Training section's index: one row per model with more than one stored training step.
    ``families`` holds (name, page slug, training); ``model_links`` maps names to model pages."""
    from headdb.site.render import _front_matter, _table

    out = [
        _front_matter("Training"),
        "# Heads across training\n\n"
        "How heads form: detector scores and labels at each saved training step of a model. A model "
        "appears here once its checkpoints are swept (`headdb sweep DIR@checkpoints`, "
        "`headdb sweep HUB_ID@step{1000..3000..1000}` or `headdb zoo sweep NAME`).\n\n",
    ]
    if not families:
        out.append("No model has detector results at more than one training step yet.\n")
        return "".join(out)
    rows = []
    for name, slug, training in families:
        firsts = [f for f in training.first_labels if f.first_step is not None]
        by_type = defaultdict(list)
        for f in firsts:
            by_type[f.head_type].append(f.first_step)
        earliest = ", ".join(f"{t}: {min(s):,}" for t, s in sorted(by_type.items())) or "none"
        rows.append((f"[{md_text(name)}]({slug}.md)", f"[model page]({model_links[name]})", str(len(training.steps)),
                     f"{training.steps[0]:,} to {training.steps[-1]:,}", md_text(earliest)))
    out.append(_table(("model", "", "steps", "range", "first label per head type"), rows) + "\n")
    return "".join(out)
