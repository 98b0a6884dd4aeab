"""Page renderers: typed records in, Markdown out. No database, no files.

Every string that comes from catalog entries goes through ``md_text`` (or ``html_text`` inside
raw HTML), so a title or summary containing HTML or Markdown renders as text.
Link targets are relative ``.md`` paths, which mkdocs checks in strict mode.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from headdb.agreement import AGREE, MISSED, NOT_SCORED, UNCLAIMED, AgreementRow
from headdb.db.models import STAGES
from headdb.results import ClaimInfo, HeadTypeInfo, LabelInfo, ModelInfo, PaperInfo, RunInfo
from headdb.site.escape import html_text, md_text, model_slug

STATUS_TEXT = {
    AGREE: "agree",
    MISSED: "claimed, not detected",
    UNCLAIMED: "detected, not claimed",
    NOT_SCORED: "claimed, no detector run",
}


@dataclass(frozen=True)
class Counts:
    papers: int
    head_types: int
    models: int
    labelled_heads: int
    claims: int


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _front_matter(title: str) -> str:
    # The page title as YAML front matter, quoted: HTML-escaped so templates that print it raw
    # cannot be injected into.
    safe = html_text(" ".join(title.split())).replace("\\", "\\\\").replace('"', "&quot;")
    return f'---\ntitle: "{safe}"\n---\n\n'


def _date(paper: PaperInfo) -> str:
    return paper.date_text


def paper_link(paper: PaperInfo, prefix: str) -> str:
    return f"[{md_text(paper.title)}]({prefix}{paper.slug}.md)"


def type_link(slug: str, names: Mapping[str, str], prefix: str) -> str:
    return f"[{md_text(names.get(slug, slug))}]({prefix}{slug}.md)"


def model_link(name: str, prefix: str) -> str:
    return f"[{md_text(name)}]({prefix}{model_slug(name)}.md)"


# -- home ---------------------------------------------------------------------------------------


def home_page(counts: Counts, newest: Sequence[PaperInfo], generated: dt.date) -> str:
    rows = [(_date(p), md_text(p.where), paper_link(p, "papers/")) for p in newest]
    return (
        _front_matter("headdb")
        + "# headdb: a catalog of attention heads\n\n"
        "Researchers keep finding specialised attention heads in language models: induction, "
        "previous-token, duplicate-token, name-mover, S-inhibition, successor, mover, relation and "
        "retrieval heads, and many more. headdb collects what the papers claim about which head, "
        "sorts the head types into a taxonomy, runs detectors that score every head of a model "
        "with the published methods, and shows where detectors and papers agree.\n\n"
        f"| papers | head types | models | labelled heads | head claims |\n|---|---|---|---|---|\n"
        f"| {counts.papers} | {counts.head_types} | {counts.models} | {counts.labelled_heads} | {counts.claims} |\n\n"
        "Browse the [taxonomy](taxonomy/index.md), the [papers](papers/index.md), the "
        "[models](models/index.md) with their detector heatmaps, the "
        "[agreement](agreement/index.md) between claims and detectors, or read "
        "[how the detectors work](detectors.md).\n\n"
        "## Newest papers\n\n" + (_table(("date", "venue", "title"), rows) if rows else "No papers yet.") + "\n\n"
        f"*Generated from the headdb database on {generated.isoformat()}.*\n"
    )


# -- taxonomy ------------------------------------------------------------------------------------


def taxonomy_index(head_types: Sequence[HeadTypeInfo], paper_counts: Mapping[str, int]) -> str:
    out = [
        _front_matter("Taxonomy"),
        "# Taxonomy\n\n"
        "The survey groups head types by the stage of reasoning they serve. Types that papers name "
        "but the survey does not place are listed at the end.\n",
    ]
    names = {h.slug: h.name for h in head_types}
    for code, stage in [*STAGES.items(), (None, "Not placed by the survey")]:
        members = [h for h in head_types if h.stage == code]
        if not members:
            continue
        out.append(f"\n## {stage}" + (f" ({code})" if code else "") + "\n\n")
        rows = [
            (type_link(h.slug, names, ""), md_text(h.group or ""), str(paper_counts.get(h.slug, 0)),
             md_text(", ".join(h.aliases)))
            for h in sorted(members, key=lambda h: ((h.group or ""), h.name))
        ]
        out.append(_table(("head type", "group", "papers", "also called"), rows) + "\n")
    return "".join(out)


def head_type_page(
    head_type: HeadTypeInfo,
    papers: Sequence[PaperInfo],
    claims: Sequence[ClaimInfo],
    labels: Sequence[LabelInfo],
) -> str:
    out = [_front_matter(head_type.name), f"# {md_text(head_type.name)}\n\n", md_text(head_type.description) + "\n\n"]
    facts = []
    if head_type.stage:
        facts.append(f"**Stage:** {md_text(STAGES[head_type.stage])} ({head_type.stage})")
    if head_type.group:
        facts.append(f"**Group:** {md_text(head_type.group)}")
    if head_type.aliases:
        facts.append(f"**Also called:** {md_text(', '.join(head_type.aliases))}")
    if head_type.model_families:
        facts.append(f"**Reported in model families:** {md_text(', '.join(head_type.model_families))}")
    facts.append(f"**Kind:** {md_text(head_type.kind)}" + (f" ({md_text(head_type.kind_note)})" if head_type.kind_note else ""))
    placement = head_type.placement
    if placement.get("by") == "headdb":
        facts.append(f"**Placed by headdb** ({md_text(placement.get('confidence', ''))} confidence), from "
                     f"[{md_text(placement.get('paper', ''))}](../papers/{placement.get('paper', '')}.md): "
                     f"{md_text(placement.get('reason', ''))}")
    elif placement.get("by") == "unplaced":
        facts.append(f"**Not placed in a stage:** {md_text(placement.get('reason', ''))}")
    for merged in head_type.merged:
        facts.append(f"**Merged duplicate:** {md_text(merged.get('name', ''))}: {md_text(merged.get('reason', ''))}")
    for other in head_type.distinct_from:
        facts.append(f"**Kept apart from** [{md_text(other.get('slug', ''))}]({other.get('slug', '')}.md): {md_text(other.get('reason', ''))}")
    facts.append(f"**Slug:** `{head_type.slug}`")
    out.append("  \n".join(facts) + "\n\n")

    out.append(f"## Papers ({len(papers)})\n\n")
    if papers:
        out.append(_table(("date", "venue", "paper"), [(_date(p), md_text(p.where), paper_link(p, "../papers/")) for p in papers]) + "\n\n")
    else:
        out.append("No catalogued paper names this head type yet.\n\n")

    out.append("## Models\n\n")
    if claims:
        out.append("Claimed by papers:\n\n")
        out.append(_table(
            ("model", "head", "paper", "confidence"),
            [(model_link(c.model, "../models/"), c.coordinate, f"[{md_text(c.paper_title)}](../papers/{c.paper}.md)", c.confidence) for c in claims],
        ) + "\n\n")
    if labels:
        out.append("Detected by headdb's detectors:\n\n")
        out.append(_table(
            ("model", "head", "score", "rank"),
            [(model_link(l.model, "../models/"), l.coordinate, f"{l.score:.3f}", str(l.rank)) for l in labels],
        ) + "\n\n")
    if not claims and not labels:
        out.append("No head of any catalogued model has been claimed or detected as this type yet.\n")
    return "".join(out)


# -- papers --------------------------------------------------------------------------------------


def papers_index(papers: Sequence[PaperInfo], type_names: Mapping[str, str]) -> str:
    rows = [
        (_date(p), paper_link(p, ""), md_text(p.where), ", ".join(type_link(s, type_names, "../taxonomy/") for s in p.head_types))
        for p in papers
    ]
    return (
        _front_matter("Papers")
        + f"# Papers\n\n{len(papers)} papers, newest first. Click a column header to sort; type to filter.\n\n"
        '<input class="headdb-table-filter" type="search" placeholder="Filter by title, venue or head type" '
        'aria-label="Filter papers">\n\n'
        + _table(("date", "title", "venue", "head types"), rows)
        + "\n"
    )


def bibtex(paper: PaperInfo) -> str:
    """A BibTeX entry (plain text; the caller escapes it for HTML)."""
    from headdb.bibtex import bibtex_entry

    return bibtex_entry(paper)


def paper_page(paper: PaperInfo, claims: Sequence[ClaimInfo], type_names: Mapping[str, str]) -> str:
    heads = ", ".join(type_link(s, type_names, "../taxonomy/") for s in paper.head_types) or "none named"
    links = "\n".join(f"- <{html_text(url)}>" for url in paper.links)
    out = [
        _front_matter(paper.title),
        f"# {md_text(paper.title)}\n\n",
        f"**Title:** {md_text(paper.title)}  \n",
        f"**Head:** {heads}  \n",
        f"**First public version:** {_date(paper)}, {md_text(paper.published_in)}  \n",
    ]
    out.append(f"**Venue:** {md_text(paper.venue)}  \n" if paper.venue else "")
    if paper.authors:
        out.append(f"**Authors:** {md_text(', '.join(paper.authors))}  \n")
    if paper.arxiv_id:
        out.append(f"**arXiv:** {md_text(paper.arxiv_id)}  \n")
    for name, reason in sorted(paper.missing.items()):
        out.append(f"**{md_text(name.capitalize())}:** none given: {md_text(reason)}  \n")
    out.append(
        "\n**Summary:**\n\n"
        f"- **Innovation:** {md_text(paper.innovation)}\n"
        f"- **Tasks:** {md_text(paper.tasks)}\n"
        f"- **Significant Result:** {md_text(paper.significant_result)}\n\n"
        f"## Links\n\n{links}\n\n## Head claims\n\n"
    )
    if claims:
        out.append(_table(
            ("model", "head", "type or role", "source", "confidence"),
            [
                (
                    model_link(c.model, "../models/"),
                    c.coordinate,
                    type_link(c.head_type, type_names, "../taxonomy/") if c.head_type else md_text(c.role or ""),
                    md_text(c.source + (f" ({c.note})" if c.note else ""))
                    + (f" **Sources disagree:** {md_text(c.conflict)}" if c.conflict else ""),
                    c.confidence,
                )
                for c in claims
            ],
        ) + "\n\n")
    else:
        out.append("This paper's entry records no specific heads.\n\n")
    if paper.sources:
        out.append("## Where the bibliographic facts come from\n\n" + "\n".join(
            f"- **{md_text(key)}:** {md_text(value)}" for key, value in sorted(paper.sources.items())) + "\n\n")
    out.append(f"## BibTeX\n\n<pre><code>{html_text(bibtex(paper))}</code></pre>\n")
    return "".join(out)


# -- models ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Heatmap:
    head_type: str
    image: str  # file name next to the model page's folder
    labelled: Sequence[LabelInfo]
    detector: str


@dataclass(frozen=True)
class Revision:
    """One stored revision of a model, as its page lists it."""

    revision: str  # "" = as published
    step: int | None
    runs: int
    labelled_heads: int


def models_index(
    models: Sequence[ModelInfo],
    label_counts: Mapping[str, int],
    claim_counts: Mapping[str, int],
    revision_counts: Mapping[str, int] | None = None,
) -> str:
    """One row per model (its revisions share the row and the page)."""
    revision_counts = revision_counts or {}
    rows = [
        (model_link(m.name, ""), md_text(m.architecture or ""), str(m.n_layers or ""), str(m.n_heads or ""),
         str(revision_counts.get(m.name, 1)), str(claim_counts.get(m.name, 0)), str(label_counts.get(m.name, 0)))
        for m in models
    ]
    return (
        _front_matter("Models")
        + "# Models\n\nModels that papers make claims about, publish per-head data for, or that headdb's detectors have scored. A "
        "model's revisions (hub revisions, training checkpoints) share its page.\n\n"
        + _table(("model", "architecture", "layers", "heads per layer", "revisions", "claimed heads", "labelled heads"), rows)
        + "\n"
    )


def _public_source(source: str | None) -> str | None:
    """A hub id as it is; a local directory by its own name only (the full path is this machine's)."""
    if source is None or not source.startswith("/"):
        return source
    return f"local directory {source.rstrip('/').rsplit('/', 1)[-1]}"


def _revision_text(revision: str) -> str:
    return md_text(revision) if revision else "as published"


def model_page(
    model: ModelInfo,
    heatmaps: Sequence[Heatmap],
    runs: Sequence[RunInfo],
    type_names: Mapping[str, str],
    revisions: Sequence[Revision] = (),
    training: str | None = None,
    in_agreement: bool = True,
) -> str:
    """A model's page: facts, the heatmaps and runs of ``model``'s revision (the one shown), the
    list of all its ``revisions`` when there are several, and links to its ``training`` page and
    (``in_agreement``) its section of the agreement page."""
    slug = model_slug(model.name)
    facts = [
        ("architecture", model.architecture), ("layers", model.n_layers), ("query heads per layer", model.n_heads),
        ("key/value heads per layer", model.n_kv_heads), ("d_model", model.d_model), ("d_head", model.d_head),
        ("vocabulary", model.d_vocab), ("source", _public_source(model.source)), ("revision", model.revision or None),
        ("weights sha256", model.weights_fingerprint[:16] + "…" if model.weights_fingerprint else None),
    ]
    out = [
        _front_matter(model.name),
        f"# {md_text(model.name)}\n\n",
        _table(("fact", "value"), [(k, md_text(v)) for k, v in facts if v is not None]) + "\n\n",
    ]
    if in_agreement:
        out.append(f"See also: [claims vs. detectors for this model](../agreement/index.md#{slug}).\n\n")
    if training:
        out.append(f"How its heads form over training: [heads across training]({training}).\n\n")
    if len(revisions) > 1:
        out.append(f"## Revisions ({len(revisions)})\n\n")
        out.append(_table(
            ("revision", "training step", "detector runs", "labelled heads"),
            [(_revision_text(r.revision) + (" (shown below)" if r.revision == (model.revision or "") else ""),
              "" if r.step is None else f"{r.step:,}", str(r.runs), str(r.labelled_heads)) for r in revisions],
        ) + "\n\n")
    if not heatmaps:
        out.append("## Detector results\n\nNo detector has been run on this model yet, so there are no "
                   f"scores to show. Run `headdb detect {md_text(model.name)}` to add them.\n")
        return "".join(out)
    shown = f" (revision {_revision_text(model.revision or '')})" if len(revisions) > 1 else ""
    out.append(f"## Detector results{shown}\n\nEach heatmap shows every head's score (value printed in the "
               "cell); heads the detector labels are outlined with a dashed box.\n\n")
    for hm in heatmaps:
        out.append(f"### {type_link(hm.head_type, type_names, '../taxonomy/')}\n\n")
        out.append(f"![{md_text(type_names.get(hm.head_type, hm.head_type))} scores of {md_text(model.name)}]({slug}/{hm.image})\n\n")
        if hm.labelled:
            out.append(_table(("head", "score", "95% interval", "adjusted p", "rank", "percentile", "why"), [
                (l.coordinate, f"{l.score:.3f}", l.interval or "–", "–" if l.q_value is None else f"{l.q_value:.2g}",
                 f"{l.rank}/{l.n_heads_scored}" if l.n_heads_scored else str(l.rank),
                 "–" if l.percentile is None else f"{l.percentile:.1f}", _why(l))
                for l in hm.labelled]) + "\n\n")
        else:
            out.append(f"The `{hm.detector}` detector labels no head of this model as this type.\n\n")
    out.append("## Runs\n\n" + _table(
        ("run", "detector", "version", "status", "seconds", "labels", "data fingerprint"),
        [(str(r.id), r.detector, r.detector_version, r.status, f"{r.duration_s or 0:.2f}", str(r.n_labels), f"`{r.data_fingerprint[:12]}`") for r in runs],
    ) + "\n")
    return "".join(out)


def _why(label: LabelInfo) -> str:
    """The label's checks in one cell: value, comparison, threshold, source."""
    parts = []
    for e in label.evidence:
        source = "convention" if e["source"] == "headdb convention" else e["source"]
        parts.append(f"{md_text(e['check'])}: {e['value']:.3g} {html_text(e['op'])} {e['threshold']:g} ({md_text(source)})")
    if label.circuit_id is not None:
        from headdb.site.evidence import circuit_slug_of

        slug = circuit_slug_of(label.model, label.revision, label.circuit_id)
        parts.append(f"found in [circuit {label.circuit_id}](../circuits/{slug}.md)")
    return "; ".join(parts) or "–"


# -- agreement ------------------------------------------------------------------------------------


def agreement_page(per_model: Mapping[str, Sequence[AgreementRow]], scored_models: set[str], type_names: Mapping[str, str]) -> str:
    out = [
        _front_matter("Agreement"),
        "# Claims vs. detectors\n\n"
        "For each model, the heads papers claim beside the heads headdb's detectors label. "
        "**agree**: claimed and detected; **claimed, not detected**: the detector's criterion did not "
        "hold (its rank shows how close it came); **detected, not claimed**: no catalogued paper "
        "reports it; **claimed, no detector run**: the head type has no detector run on this model.\n\n",
    ]
    if not scored_models:
        out.append("**No detector has been run yet.** Until one is, there is nothing to compare the "
                   "papers' claims with; run `headdb detect MODEL`.\n\n")
    for model, rows in per_model.items():
        out.append(f"## {md_text(model)} {{#{model_slug(model)}}}\n\n")
        if model not in scored_models:
            out.append(f"No detector has been run on {model_link(model, '../models/')} yet, so the "
                       f"claimed heads ({len(rows)}) cannot be checked here.\n\n")
            continue
        if not rows:
            out.append("Detectors ran on this model, but no head was claimed or labelled.\n\n")
            continue
        counts = {s: sum(r.status == s for r in rows) for s in STATUS_TEXT}
        out.append(", ".join(f"{STATUS_TEXT[s]}: {n}" for s, n in counts.items() if n) + "\n\n")
        out.append(_table(
            ("head type", "head", "claimed", "detected", "status", "score", "rank", "claimed by"),
            [
                (
                    type_link(r.head_type, type_names, "../taxonomy/"), r.coordinate,
                    "yes" if r.papers else "no", "yes" if r.status in (AGREE, UNCLAIMED) else "no",
                    STATUS_TEXT[r.status],
                    "" if r.score is None else f"{r.score:.3f}", "" if r.rank is None else str(r.rank),
                    ", ".join(f"[{md_text(p)}](../papers/{p}.md)" for p in r.papers),
                )
                for r in rows
            ],
        ) + "\n\n")
    return "".join(out)


# -- detectors --------------------------------------------------------------------------------------


def detectors_page(metadata: Sequence[object], type_names: Mapping[str, str], validated: Collection[str] = ()) -> str:
    """Every detector's metadata; ``validated``: the detectors the newest validation report has
    a section for (the others link to the page, not to a section it lacks)."""
    out = [_front_matter("Detectors"), "# How the detectors work\n\n"
           "Each detector scores every head of a model with a published method. A label is a "
           "conjunction of checks, each with its threshold and where the threshold comes from: a paper "
           "that states it, or headdb's own convention (named as such). Every score carries a 95% "
           "bootstrap interval over prompts (the random-token detectors resample the tokens too; see "
           "their changes) and a p-value against the null stated below, adjusted over "
           "all heads; no threshold is fitted to published heads or to the zoo. How each detector does "
           "on models whose heads are known is on the [validation](validation.md) page.\n\n"]
    for meta in metadata:
        m = meta  # DetectorMetadata
        out.append(f"## {md_text(m.name)} (version {m.version})\n\n")  # type: ignore[attr-defined]
        out.append(f"**Method:** {md_text(m.method)}  \n**Data:** {md_text(m.data)}  \n")  # type: ignore[attr-defined]
        out.append(f"**Null:** {md_text(m.null)}  \n")  # type: ignore[attr-defined]
        if not m.in_default_suite:  # type: ignore[attr-defined]
            out.append("**Runs when asked for** (`--detectors`): it discovers circuits, which costs many passes.  \n")
        if m.changes:  # type: ignore[attr-defined]
            out.append(f"**Changes:** {md_text(m.changes)}  \n")  # type: ignore[attr-defined]
        out.append(f"**Paper:** [{md_text(m.paper)}](papers/{m.paper}.md) · "  # type: ignore[attr-defined]
                   + (f"[validation results](validation.md#{m.name})\n\n" if m.name in validated  # type: ignore[attr-defined]
                      else "not in the newest [validation](validation.md) report\n\n"))
        for slug, rule in m.label_rules.items():  # type: ignore[attr-defined]
            out.append(f"- {type_link(slug, type_names, 'taxonomy/')}: labelled when {md_text(rule)}\n")
        out.append("\n")
    return "".join(out)
