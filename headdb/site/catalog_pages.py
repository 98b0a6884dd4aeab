"""Site pages for the catalog as a reference: published per-head data (index page, heatmaps on
model pages, agreement with claims) and the static JSON API.

Published heatmaps show what a paper's authors released, never what headdb computed: each says
so, names its source (repository, path, commit) and how headdb derived the values from it.

The JSON API lives at ``api/`` in the built site: ``api/index.json`` lists every paper, model,
head type and published dataset with the path of its own file (``api/papers/<slug>.json``,
``api/models/<slug>.json``, ``api/head-types/<slug>.json``), so other tools can read the catalog
without Python. Every file carries ``{"format": "headdb-api", "version": 1}``.

Every string from catalog entries goes through ``md_text``/``html_text``; link targets are built
from validated slugs and percent-encoded URLs.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from headdb.agreement import AGREE, MISSED, UNCLAIMED, AgreementRow
from headdb.results import ClaimInfo, HeadTypeInfo, LabelInfo, ModelInfo, PaperInfo, PublishedInfo
from headdb.site.escape import md_text, model_slug, slugify
from headdb.site.heatmap import heatmap_svg

API_FORMAT = {"format": "headdb-api", "version": 1}
PUBLISHED_STATUS = {AGREE: "claimed, published label", MISSED: "claimed, below the paper's threshold",
                    UNCLAIMED: "published label, not claimed"}
Write = Callable[[str, str], None]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def source_link(d: PublishedInfo) -> str:
    """A Markdown link to the source file at the commit read (URL percent-encoded)."""
    url = quote(d.source_url, safe=":/#?=&~")
    return f"[{md_text(d.path)} @ {md_text(d.commit[:10])}]({url})"


def image_name(d: PublishedInfo) -> str:
    return f"published-{slugify(d.slug)}.svg"


def threshold_text(d: PublishedInfo) -> str:
    if d.threshold is None:
        return "none stated"
    return f"value {md_text(d.threshold_op or '>')} {d.threshold:g} ({md_text(d.threshold_source or '')})"


# -- model pages ----------------------------------------------------------------------------------


def model_section(model: ModelInfo, datasets: Sequence[PublishedInfo], type_names: Mapping[str, str]) -> str:
    """The "Published by papers" section of a model page (empty without published data)."""
    if not datasets:
        return ""
    slug = model_slug(model.name)
    out = ["\n## Published by papers\n\n"
           "These heatmaps show per-head data **published by the papers' authors**, not computed by headdb: "
           "each names the file it comes from and how headdb read it. Heads past the paper's own threshold "
           "(its *published labels*) or with a role the paper states are outlined.\n\n"]
    for d in datasets:
        what = type_names.get(d.head_type, d.head_type) if d.head_type else "circuit membership"
        out.append(f"### {md_text(d.title)} {{#{slugify(d.slug)}}}\n\n")
        out.append(f"![{md_text(what)} of {md_text(model.name)}, published by {md_text(d.paper_title)}]({slug}/{image_name(d)})\n\n")
        facts = [
            ("paper", f"[{md_text(d.paper_title)}](../papers/{d.paper}.md)"),
            ("head type", f"[{md_text(type_names.get(d.head_type, d.head_type))}](../taxonomy/{d.head_type}.md)" if d.head_type else "none (heads of a circuit)"),
            ("value", md_text(d.quantity)),
            ("source", source_link(d)),
            ("derivation", md_text(d.derivation)),
            ("paper's threshold", threshold_text(d)),
        ]
        if d.n_samples:
            facts.append(("samples per head", str(d.n_samples)))
        if d.note:
            facts.append(("note", md_text(d.note)))
        out.append(_table(("", ""), facts) + "\n\n")
        labelled = d.labelled if d.threshold is not None else list(d.roles)
        if labelled:
            rows = [(c, f"{d.values[c]:.4g}", md_text(d.roles.get(c, ""))) for c in labelled[:40]]
            more = f"\n\n{len(labelled) - 40} more in the [JSON API](../api/models/{slug}.json)." if len(labelled) > 40 else ""
            heading = "Published labels" if d.threshold is not None else "Heads with a role the paper states"
            out.append(f"**{heading} ({len(labelled)}):**\n\n" + _table(("head", "value", "role"), rows) + more + "\n\n")
    return "".join(out)


def write_model_heatmaps(write: Write, model: ModelInfo, datasets: Sequence[PublishedInfo], type_names: Mapping[str, str]) -> None:
    for d in datasets:
        grid = d.grid()
        cells = d.n_layers * d.n_heads
        outlined = set(d.labelled if d.threshold is not None else d.roles)
        marks = {tuple(int(x) for x in c.split(".")) for c in outlined}
        what = type_names.get(d.head_type, d.head_type) if d.head_type else "circuit heads"
        title = f"{what} of {model.name}, as published by the paper"
        cell = 34 if cells <= 24 * 32 else 16
        write(f"models/{model_slug(model.name)}/{image_name(d)}", heatmap_svg(grid, title, marks, cell=cell))  # type: ignore[arg-type]


# -- published data index ------------------------------------------------------------------------------


def published_index(datasets: Sequence[PublishedInfo], type_names: Mapping[str, str]) -> str:
    rows = []
    for d in datasets:
        what = f"[{md_text(type_names.get(d.head_type, d.head_type))}](../taxonomy/{d.head_type}.md)" if d.head_type else "circuit heads"
        rows.append((
            f"[{md_text(d.model)}](../models/{model_slug(d.model)}.md#{slugify(d.slug)})",
            what, md_text(d.kind), f"[{md_text(d.paper_title)}](../papers/{d.paper}.md)",
            str(len(d.labelled)) if d.threshold is not None else "-", source_link(d),
        ))
    models = len({d.model for d in datasets})
    return (
        '---\ntitle: "Published data"\n---\n\n# Published per-head data\n\n'
        f"{len(datasets)} datasets on {models} models: per-head values that papers' authors published "
        "(a score for every head, or the heads of a circuit), stored with the repository, path and commit "
        "they come from and how headdb derived them. They are the papers' results, not headdb's. Where a "
        "paper states a threshold for its head type, the heads past it are its *published labels*; the "
        "[agreement](../agreement/index.md) page compares them with the catalogued claims.\n\n"
        "Every dataset is also in the JSON API (`api/models/<model>.json`; `api/index.json` lists all files) "
        "and in `headdb export`.\n\n"
        + _table(("model", "head type", "kind", "paper", "published labels", "source"), rows) + "\n"
    )


# -- agreement -------------------------------------------------------------------------------------------


def published_agreement_section(per_model: Mapping[str, Sequence[AgreementRow]], type_names: Mapping[str, str]) -> str:
    rows_by_model = {m: rows for m, rows in per_model.items() if rows}
    if not rows_by_model:
        return ""
    out = ["## Claims vs. published labels\n\n"
           "Here the comparison is with data the papers' authors published, **not with headdb's detectors**: "
           "a head is a *published label* when its published value passes the threshold the paper states "
           "for the head type.\n\n"]
    for model, rows in rows_by_model.items():
        out.append(f"### {md_text(model)} (published data) {{#published-{model_slug(model)}}}\n\n")
        counts = {s: sum(r.status == s for r in rows) for s in PUBLISHED_STATUS}
        out.append(", ".join(f"{PUBLISHED_STATUS[s]}: {n}" for s, n in counts.items() if n) + "\n\n")
        out.append(_table(
            ("head type", "head", "status", "published value", "rank", "claimed by", "dataset"),
            [(f"[{md_text(type_names.get(r.head_type, r.head_type))}](../taxonomy/{r.head_type}.md)", r.coordinate,
              PUBLISHED_STATUS[r.status], "" if r.score is None else f"{r.score:.4g}", "" if r.rank is None else str(r.rank),
              ", ".join(f"[{md_text(p)}](../papers/{p}.md)" for p in r.papers),
              f"[{md_text(r.dataset or '')}](../models/{model_slug(model)}.md#{slugify(r.dataset or '')})")
             for r in rows],
        ) + "\n\n")
    return "".join(out)


# -- static JSON API -------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)  # type: ignore[arg-type]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _dump(data: dict[str, Any]) -> str:
    # ASCII only: control and bidirectional characters in stored text arrive as \u escapes, never raw.
    return json.dumps({**API_FORMAT, **_plain(data)}, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


def _api_model_file(m: ModelInfo) -> str:
    """One file per model identity: a revision other than the published one gets its own."""
    return f"{model_slug(m.name + ('@' + m.revision if m.revision else ''))}.json"


def write_api(
    write: Write,
    papers: Sequence[PaperInfo],
    head_types: Sequence[HeadTypeInfo],
    models: Sequence[ModelInfo],
    claims: Sequence[ClaimInfo],
    published: Sequence[PublishedInfo],
    labels: Mapping[str, Sequence[LabelInfo]],
) -> None:
    """One JSON file per paper, model and head type, and ``api/index.json`` listing them."""
    from headdb.bibtex import bibtex_entry, bibtex_keys

    keys = bibtex_keys(papers)
    by_paper: dict[str, list[ClaimInfo]] = {}
    by_model: dict[str, list[ClaimInfo]] = {}
    by_type: dict[str, list[ClaimInfo]] = {}
    for c in claims:
        by_paper.setdefault(c.paper, []).append(c)
        by_model.setdefault(c.model, []).append(c)
        if c.head_type:
            by_type.setdefault(c.head_type, []).append(c)
    for p in papers:
        write(f"api/papers/{p.slug}.json", _dump({
            "paper": p, "claims": by_paper.get(p.slug, []), "bibtex": bibtex_entry(p, keys[p.slug]),
            "published": [d.slug for d in published if d.paper == p.slug],
        }))
    for m in models:
        write(f"api/models/{_api_model_file(m)}", _dump({
            "model": m, "claims": by_model.get(m.name, []),
            "published": [{k: v for k, v in dataclasses.asdict(d).items()} | {"source_url": d.source_url, "published_labels": d.labelled}
                          for d in published if d.model == m.name],
            "detector_labels": [l for l in labels.get(m.name, []) if l.revision == (m.revision or "")],
        }))
    for h in head_types:
        write(f"api/head-types/{h.slug}.json", _dump({
            "head_type": h, "papers": [p.slug for p in papers if h.slug in p.head_types],
            "claims": by_type.get(h.slug, []),
            "published": [d.slug for d in published if d.head_type == h.slug],
        }))
    write("api/index.json", _dump({
        "papers": [{"slug": p.slug, "title": p.title, "date": p.date_text, "file": f"papers/{p.slug}.json"} for p in papers],
        "models": [{"name": m.name, "revision": m.revision, "file": f"models/{_api_model_file(m)}"} for m in models],
        "head_types": [{"slug": h.slug, "name": h.name, "stage": h.stage, "kind": h.kind, "file": f"head-types/{h.slug}.json"}
                       for h in head_types],
        "published": [{"slug": d.slug, "model": d.model, "head_type": d.head_type, "paper": d.paper,
                       "file": f"models/{model_slug(d.model)}.json"} for d in published],
    }))
