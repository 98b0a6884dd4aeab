"""Pages that show why labels are evidence: the detector validation report and the circuits.
Renderers only: typed records in, Markdown and SVG out; every string from the database is escaped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

from headdb.circuits.query import CircuitInfo
from headdb.site.escape import html_text, md_text, model_slug, slugify
from headdb.validation.query import ValidationInfo, ValidationRow

TASK_PAPERS = {
    "ioi": "2023-interpretability-wild-circuit-indirect-object",
    "greater-than": "2023-gpt-2-compute-greater-than",
    "factual": "2024-knowledge-circuits-pretrained-transformers",
}


def _fraction(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.2f}"


def _front(title: str) -> str:
    safe = html_text(" ".join(title.split())).replace('"', "&quot;")
    return f'---\ntitle: "{safe}"\n---\n\n'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


# -- validation ------------------------------------------------------------------------------------


def validation_page(report: ValidationInfo | None, type_names: Mapping[str, str], zoo_descriptions: Mapping[str, str]) -> str:
    out = [_front("Detector validation"), "# Detector validation\n\n"]
    if report is None:
        out.append("No validation report has been stored yet: run `headdb validate-detectors`.\n")
        return "".join(out)
    out.append(
        "Every detector runs on every model of headdb's ground-truth zoo, and its labels are compared "
        "with the heads whose roles are known: by construction for the planted models, from ablation "
        "on the model's own training tasks for the trained ones (a head has a role when replacing its "
        "output by its output on a corrupted prompt removes at least 5% of the task's clean-corrupted "
        "gap; ambiguous heads, between 2% and 5%, count neither way; these are headdb's conventions), "
        "and nothing at all for the random-initialisation controls. The detectors never read the "
        "ground truth.\n\n"
        f"Report {report.id} ({md_text(report.subset)} zoo), {report.started_at:%Y-%m-%d %H:%M} UTC, "
        f"{report.duration_s or 0:.0f} s; detector versions: "
        + ", ".join(f"{md_text(k)} {md_text(v)}" for k, v in sorted(report.detector_versions.items())) + ".\n\n"
    )
    by_detector: dict[str, list[ValidationRow]] = defaultdict(list)
    for row in report.rows:
        by_detector[row.detector].append(row)
    for detector in sorted(by_detector):
        out.append(f"## {md_text(detector)}\n\n")
        rows = []
        for r in sorted(by_detector[detector], key=lambda r: (r.head_type, r.model_kind, r.model)):
            ranks = ", ".join(f"{md_text(c)} (rank {k})" for c, k in r.true_head_ranks.items()) or "–"
            rows.append((
                md_text(type_names.get(r.head_type, r.head_type)), md_text(r.model), r.model_kind,
                _fraction(r.precision), _fraction(r.recall), _fraction(r.auroc), ranks,
                md_text(", ".join(r.labelled)) or "–", md_text(r.note) or "",
            ))
        out.append(_table(("head type", "model", "kind", "precision", "recall", "AUROC", "true heads",
                           "labelled", "note"), rows) + "\n\n")
    if report.stability:
        out.append("## Label stability on a real model\n\n")
        for model, s in report.stability.items():
            verdict = "meets" if s.get("meets_target") else "does not meet"
            out.append(
                f"On **{md_text(model)}**, all detectors ran twice, as {md_text(s['runs'][0])} and as "
                f"{md_text(s['runs'][1])}: {len(s['labels_a'])} and {len(s['labels_b'])} labels, "
                f"Jaccard index {s['jaccard']:.2f}, which {verdict} the {s['target']} target.\n\n")
            only_a = sorted(set(s["labels_a"]) - set(s["labels_b"]))
            only_b = sorted(set(s["labels_b"]) - set(s["labels_a"]))
            if only_a or only_b:
                out.append(f"Only in the first: {md_text(', '.join(only_a)) or '–'}. "
                           f"Only in the second: {md_text(', '.join(only_b)) or '–'}.\n\n")
            for run, skipped in (("first", s.get("skipped_a") or {}), ("second", s.get("skipped_b") or {})):
                for detector, reason in sorted(skipped.items()):
                    out.append(f"In the {run} run, {md_text(detector)} could not run: {md_text(reason)}.\n\n")
            if s.get("sensitivity"):
                out.append("Sensitivity to the kind of token (reported, not held to the target):\n\n")
                out.append(_table(
                    ("run", "labels", "Jaccard with the first", "only in this run", "could not run"),
                    [(md_text(v["run"]), str(len(v["labels"])),
                      f"{v['jaccard']:.2f}" + ("" if v["comparable"] else " (not comparable)"),
                      md_text(", ".join(v["only_second"])) or "–", md_text(", ".join(sorted(v["skipped"]))) or "–")
                     for v in s["sensitivity"]]) + "\n\n")
    out.append("## The zoo\n\n")
    out.append(_table(("model", "fingerprint", "what it is"),
                      [(md_text(name), f"`{fp[:12]}`", md_text(zoo_descriptions.get(name, "")))
                       for name, fp in sorted(report.zoo.items())]) + "\n")
    return "".join(out)


# -- circuits --------------------------------------------------------------------------------------


def circuit_slug(c: CircuitInfo) -> str:
    return circuit_slug_of(c.model, c.revision or "", c.id)


def circuit_slug_of(model: str, revision: str, circuit_id: int) -> str:
    """The page slug of circuit ``circuit_id`` of ``model`` at ``revision``."""
    return f"{slugify(model + (f'-{revision}' if revision else ''))}-{circuit_id}"


def model_circuits_section(circuits: Sequence[CircuitInfo]) -> str:
    """The "Circuits" section of a model page: each circuit found on it, linked (empty if none)."""
    if not circuits:
        return ""
    rows = [(f"[{md_text(c.task)}](../circuits/{circuit_slug(c)}.md)", md_text(c.method), f"{c.n_edges}/{c.n_edges_total}",
             _fraction(c.faithfulness), md_text(", ".join(c.heads)) or "–") for c in circuits]
    return "\n## Circuits\n\n" + _table(("task", "method", "edges", "faithfulness", "heads"), rows) + "\n"


def _paper(task: str) -> str | None:
    return TASK_PAPERS.get(task.split(":")[0])


def circuits_index(circuits: Sequence[CircuitInfo]) -> str:
    out = [_front("Circuits"), "# Circuits\n\n"
           "Circuits discovered with edge attribution patching: every edge of the model's graph is "
           "scored (EAP, or EAP-IG with integrated gradients), the circuit grows greedily from the "
           "logits, and the smallest circuit whose normalised faithfulness reaches the target is kept. "
           "Faithfulness is measured by running the model with every edge outside the circuit patched "
           "to its corrupted (or mean) value: (circuit - corrupted) / (clean - corrupted).\n\n"]
    if not circuits:
        out.append("No circuit has been discovered yet: run `headdb circuit MODEL --task ioi`.\n")
        return "".join(out)
    rows = [(f"[{md_text(c.model)}{' @ ' + md_text(c.revision) if c.revision else ''} — {md_text(c.task)}]({circuit_slug(c)}.md)",
             md_text(c.method), f"{c.n_edges}/{c.n_edges_total}", _fraction(c.faithfulness), md_text(", ".join(c.heads)) or "–")
            for c in circuits]
    out.append(_table(("circuit", "method", "edges", "faithfulness", "heads"), rows) + "\n")
    return "".join(out)


def circuit_page(c: CircuitInfo, roles: Mapping[str, list[str]], type_names: Mapping[str, str]) -> str:
    """``roles``: head coordinate -> head types whose labels point to this circuit."""
    slug = circuit_slug(c)
    config = ", ".join(f"{md_text(k)} = {md_text(v)}" for k, v in sorted(c.config.items()) if v is not None)
    out = [
        _front(f"{c.model} — {c.task}"),
        f"# {md_text(c.model)}: {md_text(c.task)} circuit\n\n",
        _table(("fact", "value"), [
            ("model", f"[{md_text(c.model)}](../models/{model_slug(c.model)}.md)" + (f" @ {md_text(c.revision)}" if c.revision else "")),
            ("task", md_text(c.task) + (f" ([paper](../papers/{_paper(c.task)}.md))" if _paper(c.task) else "")),
            ("metric", md_text(c.metric)), ("method", md_text(c.method)), ("configuration", config),
            ("prompt pairs", str(c.n_prompts)), ("edges kept", f"{c.n_edges} of {c.n_edges_total}"),
            ("normalised faithfulness", _fraction(c.faithfulness)),
            ("metric: clean / corrupted / circuit", f"{c.clean_metric:.3f} / {c.corrupted_metric:.3f} / {c.circuit_metric:.3f}"),
            ("time", ", ".join(f"{md_text(k)} {v:.1f} s" for k, v in c.timings.items())),
        ]) + "\n\n",
        "## Graph\n\nHeads are coloured by the role headdb's circuit detectors read from this circuit "
        "(grey: none); an edge's width grows with its attribution score (blue: it carries the clean "
        "behaviour, red: it works against it).\n\n",
        f"![The {md_text(c.task)} circuit of {md_text(c.model)}]({slug}/graph.svg)\n\n",
        "## Faithfulness curve\n\n", f"![Faithfulness against circuit size]({slug}/curve.svg)\n\n",
        "## Heads\n\n",
    ]
    if c.heads:
        rows = [(h, ", ".join(f"[{md_text(type_names.get(t, t))}](../taxonomy/{t}.md)" for t in roles.get(h, [])) or "–")
                for h in c.heads]
        out.append(_table(("head", "role read from this circuit"), rows) + "\n\n")
    else:
        out.append("The circuit keeps no attention head.\n\n")
    strongest = sorted((e for e in c.edges if e.in_circuit), key=lambda e: -abs(e.score))[:25]
    if strongest:
        out.append("## Strongest edges\n\n" + _table(("edge", "score"), [
            (f"`{md_text(e.sender)} → {md_text(e.receiver)}`", f"{e.score:.4f}") for e in strongest]) + "\n")
    return "".join(out)


_ROLE_COLOURS = {"name-mover": "#1b9e77", "negative-name-mover": "#d95f02", "s-inhibition": "#7570b3",
                 "mover": "#e7298a", "relation": "#66a61e", "induction": "#e6ab02", "duplicate-token": "#a6761d",
                 "previous-token": "#1f78b4", "successor": "#b2df8a"}


def circuit_svg(c: CircuitInfo, roles: Mapping[str, list[str]]) -> str:
    """The circuit as layered SVG: input on the left, layers left to right, logits on the right."""
    edges = [e for e in c.edges if e.in_circuit]
    nodes = sorted({e.sender for e in edges} | {e.target for e in edges})
    columns: dict[float, list[str]] = defaultdict(list)
    for n in nodes:
        columns[_column(n)].append(n)
    order = sorted(columns)
    width, row_h, col_w = 140 + 120 * len(order), 34, 120
    height = 60 + row_h * max((len(v) for v in columns.values()), default=1)
    pos = {}
    for x, key in enumerate(order):
        for y, n in enumerate(sorted(columns[key])):
            pos[n] = (70 + x * col_w, 40 + y * row_h)
    biggest = max((abs(e.score) for e in edges), default=1.0) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{html_text(c.task)} circuit of {html_text(c.model)}">',
             f'<title>{html_text(c.task)} circuit of {html_text(c.model)}</title>']
    for e in edges:
        (x1, y1), (x2, y2) = pos[e.sender], pos[e.target]
        w = 0.5 + 5.5 * abs(e.score) / biggest
        colour = "#2166ac" if e.score >= 0 else "#b2182b"
        parts.append(f'<line x1="{x1 + 28}" y1="{y1}" x2="{x2 - 28}" y2="{y2}" stroke="{colour}" stroke-width="{w:.2f}" '
                     f'stroke-opacity="0.7"><title>{html_text(e.sender)} → {html_text(e.receiver)}: {e.score:.4f}</title></line>')
    for n, (x, y) in pos.items():
        coord = n[1:].replace(".h", ".") if n.startswith("a") else ""
        fill = _ROLE_COLOURS.get(roles.get(coord, [""])[0], "#bbbbbb") if coord else "#ffffff"
        label = html_text(n)
        parts.append(f'<rect x="{x - 28}" y="{y - 11}" width="56" height="22" rx="5" fill="{fill}" stroke="#333"/>'
                     f'<text x="{x}" y="{y + 4}" font-size="11" text-anchor="middle" font-family="sans-serif">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _column(node: str) -> float:
    if node == "input":
        return -1.0
    if node == "logits":
        return 1e9
    if node.startswith("m"):
        return int(node[1:]) + 0.5
    return float(int(node[1:].split(".")[0]))


def curve_svg(curve: Sequence[tuple[int, float]], target: float) -> str:
    """Faithfulness (y) against the number of edges kept (x, log scale)."""
    width, height, pad = 420, 240, 44
    points = [(n, f) for n, f in curve if n > 0 and not math.isnan(f)]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             'role="img" aria-label="faithfulness curve"><title>Normalised faithfulness against edges kept</title>']
    if not points:
        return "".join(parts) + f'<text x="{pad}" y="{height / 2}" font-size="12">no data</text></svg>'
    top = max(1.0, max(f for _, f in points))
    low = min(0.0, min(f for _, f in points))
    span_x = math.log10(max(n for n, _ in points)) or 1.0

    def xy(n: int, f: float) -> tuple[float, float]:
        return (pad + (width - 2 * pad) * math.log10(n) / span_x, height - pad - (height - 2 * pad) * (f - low) / (top - low))

    ty = xy(1, target)[1]
    parts.append(f'<line x1="{pad}" y1="{ty:.1f}" x2="{width - pad}" y2="{ty:.1f}" stroke="#999" stroke-dasharray="4 3"/>'
                 f'<text x="{width - pad}" y="{ty - 4:.1f}" font-size="10" text-anchor="end">target {target:g}</text>')
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(n, f) for n, f in points))
    parts.append(f'<polyline points="{coords}" fill="none" stroke="#2166ac" stroke-width="2"/>')
    for n, f in points:
        x, y = xy(n, f)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2166ac"><title>{n} edges: {f:.3f}</title></circle>')
    parts.append(f'<text x="{width / 2}" y="{height - 8}" font-size="11" text-anchor="middle">edges kept (log scale)</text>'
                 f'<text x="12" y="{height / 2}" font-size="11" transform="rotate(-90 12 {height / 2})" text-anchor="middle">'
                 'normalised faithfulness</text></svg>')
    return "".join(parts)
