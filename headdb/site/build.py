"""Build the static site: read the database, write Markdown pages into a staging tree beside a
copy of the hand-written ``docs/``, and run mkdocs-material on it (strict: broken links fail).

Generated pages never land in ``docs/``; the staging tree lives under ``build/`` (ignored by git).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import yaml

from headdb.api import HeadDB
from headdb.results import LabelInfo
from headdb.site import render
from headdb.site.escape import slugify
from headdb.site.heatmap import heatmap_svg

REPO = Path(__file__).resolve().parents[2]
HAND_WRITTEN = REPO / "docs"


def mkdocs_config(docs_dir: Path, site_dir: Path) -> dict[str, object]:
    return {
        "site_name": "headdb",
        "site_description": "A catalog of attention heads: papers, taxonomy, detector results",
        "docs_dir": str(docs_dir),
        "site_dir": str(site_dir),
        "use_directory_urls": True,
        "theme": {
            "name": "material",
            "features": ["navigation.tabs", "navigation.sections", "navigation.top", "search.suggest",
                         "search.highlight", "content.code.copy"],
            "palette": [
                {"scheme": "default", "primary": "indigo", "toggle": {"icon": "material/brightness-7", "name": "Switch to dark mode"}},
                {"scheme": "slate", "primary": "indigo", "toggle": {"icon": "material/brightness-4", "name": "Switch to light mode"}},
            ],
            "font": False,  # no web fonts: the site works offline
        },
        "plugins": ["search"],
        "markdown_extensions": ["tables", "attr_list", "md_in_html", "toc"],
        "extra_javascript": ["javascripts/tables.js"],
        "extra_css": ["stylesheets/extra.css"],
        "nav": [
            {"Home": "index.md"},
            {"Taxonomy": "taxonomy/index.md"},
            {"Papers": "papers/index.md"},
            {"Models": "models/index.md"},
            {"Agreement": "agreement/index.md"},
            {"Detectors": "detectors.md"},
            {"About": "about.md"},
        ],
        "validation": {"links": {"not_found": "warn", "anchors": "warn", "unrecognized_links": "warn"}},
    }


def write_pages(db: HeadDB, docs: Path) -> int:
    """Render every page from the database into ``docs``; returns the number of pages written."""
    from headdb.detectors import REGISTRY

    papers = db.papers()
    head_types = db.head_types()
    type_names = {h.slug: h.name for h in head_types}
    claims = db.claims()
    models = db.models()
    runs = db.runs()
    scored = {r.model for r in runs if r.status == "succeeded"}
    labels = {m.name: db.labels(m.name) for m in models if m.name in scored}
    all_labels = [l for ls in labels.values() for l in ls]
    pages = 0

    def write(relative: str, text: str) -> None:
        nonlocal pages
        path = docs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        pages += relative.endswith(".md")

    counts = render.Counts(len(papers), len(head_types), len(models), len({(l.model, l.layer, l.head) for l in all_labels}), len(claims))
    write("index.md", render.home_page(counts, papers[:10], dt.date.today()))

    paper_counts = Counter(s for p in papers for s in p.head_types)
    write("taxonomy/index.md", render.taxonomy_index(head_types, paper_counts))
    papers_by_type: dict[str, list] = defaultdict(list)
    for p in papers:
        for s in p.head_types:
            papers_by_type[s].append(p)
    claims_by_type: dict[str | None, list] = defaultdict(list)
    claims_by_paper: dict[str, list] = defaultdict(list)
    for c in claims:
        claims_by_type[c.head_type].append(c)
        claims_by_paper[c.paper].append(c)
    labels_by_type: dict[str, list[LabelInfo]] = defaultdict(list)
    for l in all_labels:
        labels_by_type[l.head_type].append(l)
    for h in head_types:
        write(f"taxonomy/{h.slug}.md", render.head_type_page(h, papers_by_type[h.slug], claims_by_type[h.slug], labels_by_type[h.slug]))

    write("papers/index.md", render.papers_index(papers, type_names))
    for p in papers:
        write(f"papers/{p.slug}.md", render.paper_page(p, claims_by_paper[p.slug], type_names))

    claim_counts = Counter(c.model for c in claims)
    label_counts = {name: len({(l.layer, l.head) for l in ls}) for name, ls in labels.items()}
    write("models/index.md", render.models_index(models, label_counts, claim_counts))
    runs_by_model: dict[str, list] = defaultdict(list)
    for r in runs:
        runs_by_model[r.model].append(r)
    for m in models:
        heatmaps = []
        if m.name in scored:
            latest = {}
            for r in runs_by_model[m.name]:
                if r.status == "succeeded":
                    latest.setdefault(r.detector, r)
            for detector in sorted(latest):
                for head_type in REGISTRY[detector].metadata.head_types if detector in REGISTRY else ():
                    try:
                        grid = db.scores(m.name, head_type)
                    except LookupError:
                        continue
                    labelled = [l for l in labels[m.name] if l.head_type == head_type]
                    image = f"{head_type}.svg"
                    title = f"{type_names.get(head_type, head_type)}: {m.name}"
                    write(f"models/{slugify(m.name)}/{image}", heatmap_svg(grid.tolist(), title, {(l.layer, l.head) for l in labelled}))
                    heatmaps.append(render.Heatmap(head_type, image, labelled, detector))
        write(f"models/{slugify(m.name)}.md", render.model_page(m, heatmaps, runs_by_model[m.name], type_names))

    per_model = {m.name: list(db.agreement(m.name)) for m in models if m.name in scored or claim_counts.get(m.name)}
    write("agreement/index.md", render.agreement_page(per_model, scored, type_names))
    write("detectors.md", render.detectors_page([REGISTRY[n].metadata for n in sorted(REGISTRY)], type_names))
    return pages


def stage(db: HeadDB, staging: Path) -> tuple[Path, int]:
    """Write the docs tree (hand-written copy + generated pages) and mkdocs.yml into ``staging``."""
    if staging.exists():
        shutil.rmtree(staging)
    docs = staging / "docs"
    shutil.copytree(HAND_WRITTEN, docs)
    pages = write_pages(db, docs)
    return docs, pages


def build_site(db: HeadDB, site_dir: Path | str = "site", staging: Path | str | None = None, strict: bool = True) -> Path:
    """Render the database and build the static site into ``site_dir``; returns its path."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    site_dir = Path(site_dir).resolve()
    staging = Path(staging) if staging else REPO / "build" / "site-src"
    docs, _ = stage(db, staging)
    config_file = staging / "mkdocs.yml"
    config_file.write_text(yaml.safe_dump(mkdocs_config(docs.resolve(), site_dir), sort_keys=False))
    config = load_config(str(config_file), strict=strict)
    build(config)
    return site_dir
