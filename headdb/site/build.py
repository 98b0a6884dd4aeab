"""Build the static site: read the database, write Markdown pages into a staging tree beside a
copy of the hand-written ``docs/``, and run mkdocs-material on it (strict: broken links fail).

Generated pages never land in ``docs/``. Each build stages into its own directory under
``build/`` (ignored by git) and renders into a fresh directory beside the output, which then
replaces the output by rename; so concurrent builds never share files, and a failed build leaves
the previous site as it was. The output directory is only ever replaced if it is empty or was
built by headdb (it holds the ``MARKER`` file); anything else is refused, never deleted.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import shutil
import tempfile
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from headdb.api import HeadDB
from headdb.errors import HeadDBError
from headdb.results import LabelInfo, ModelInfo, RunInfo
from headdb.site import catalog_pages, evidence, render
from headdb.site import training as training_svg
from headdb.site.catalog_pages import write_model_heatmaps
from headdb.site.escape import model_slug
from headdb.site.heatmap import heatmap_svg

REPO = Path(__file__).resolve().parents[2]
HAND_WRITTEN = REPO / "docs"
BUILD_DIR = REPO / "build"
# Written into every site headdb builds: the licence to replace that directory next time.
MARKER = ".headdb-site"
MARKER_TEXT = "Built by `headdb site build`, which replaces this whole directory on every build.\n"


class SiteOutputError(HeadDBError):
    """The output (or staging) directory cannot be used: it holds files headdb did not write."""


class SiteBuildError(HeadDBError):
    """mkdocs refused the site (in strict mode, any warning: a broken link, a missing page)."""


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
            {"Published data": "published/index.md"},
            {"Training": "training/index.md"},
            {"Agreement": "agreement/index.md"},
            {"Circuits": "circuits/index.md"},
            {"Detectors": "detectors.md"},
            {"Validation": "validation.md"},
            {"About": "about.md"},
        ],
        "validation": {"links": {"not_found": "warn", "anchors": "warn", "unrecognized_links": "warn"}},
    }


def write_pages(db: HeadDB, docs: Path) -> int:
    """Render every page from the database into ``docs``; returns the number of pages written.

    A model's revisions share one page (``models/<model_slug>.md``), which shows the detector
    results of one revision: the model as published if it has any, else its latest training step.
    A model with results at more than one training step also gets a Training page."""
    from headdb.db.models import model_name_key
    from headdb.detectors import REGISTRY

    papers = db.papers()
    head_types = db.head_types()
    type_names = {h.slug: h.name for h in head_types}
    claims = db.claims()
    models = db.models()
    runs = db.runs()
    published = db.published()
    published_by_key: dict[str, list] = defaultdict(list)
    for d in published:
        published_by_key[model_name_key(d.model)].append(d)
    pages = 0

    def write(relative: str, text: str) -> None:
        nonlocal pages
        path = docs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        pages += relative.endswith(".md")

    # Models: group revisions by identity name; pick the revision each page shows.
    groups: dict[str, list[ModelInfo]] = defaultdict(list)
    for m in models:
        groups[model_name_key(m.name)].append(m)
    runs_by_identity: dict[tuple[str, str], list[RunInfo]] = defaultdict(list)
    for r in runs:
        runs_by_identity[(model_name_key(r.model), r.revision)].append(r)
    scored = {key for key, rs in runs_by_identity.items() if any(r.status == "succeeded" for r in rs)}
    labels_of: dict[tuple[str, str], list[LabelInfo]] = {
        (key, m.revision or ""): list(db.labels(m.name, revision=m.revision or ""))
        for key, ms in groups.items() for m in ms if (key, m.revision or "") in scored
    }
    shown: dict[str, ModelInfo] = {key: _shown_revision(ms, scored) for key, ms in groups.items()}
    shown_labels = {key: labels_of.get((key, m.revision or ""), []) for key, m in shown.items()}
    all_labels = [l for ls in shown_labels.values() for l in ls]

    counts = render.Counts(len(papers), len(head_types), len(groups),
                           len({(model_name_key(l.model), l.layer, l.head) for l in all_labels}), len(claims))
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

    # Heads across training: models with results at more than one training step.
    families = []
    for key, ms in groups.items():
        stepped = [m for m in ms if m.step is not None and (key, m.revision or "") in scored]
        if len(stepped) < 2:
            continue
        training = db.training(shown[key].name)
        if len(training.steps) < 2:
            continue
        slug = model_slug(shown[key].name)
        images = {}
        for head_type in training.head_types:
            points = [p for p in training if p.head_type == head_type]
            title = f"{type_names.get(head_type, head_type)} over training: {shown[key].name}"
            n_layers = max([m.n_layers or 0 for m in stepped] + [p.layer + 1 for p in points])
            n_heads = max([m.n_heads or 0 for m in stepped] + [p.head + 1 for p in points])
            write(f"training/{slug}/{head_type}.svg", training_svg.small_multiples_svg(points, n_layers, n_heads, title))
            images[head_type] = f"{slug}/{head_type}.svg"
        revisions = [(m.revision or "", m.step) for m in stepped]
        write(f"training/{slug}.md", training_svg.training_page(shown[key].name, training, images, type_names,
                                                                revisions, f"../models/{slug}.md"))
        families.append((shown[key].name, slug, training))
    write("training/index.md", training_svg.training_index(
        families, {name: f"../models/{slug}.md" for name, slug, _ in families}))
    with_training = {model_name_key(name) for name, _, _ in families}

    claim_counts = Counter(model_name_key(c.model) for c in claims)
    published_rev = {key: next((m for m in ms if not m.revision), None) for key, ms in groups.items()}
    per_model = {
        m.name: list(db.agreement(m.name, revision=""))
        for key, m in published_rev.items()
        if m is not None and ((key, "") in scored or claim_counts.get(key))
    }
    scored_names = {m.name for key, m in published_rev.items() if m is not None and (key, "") in scored}
    in_agreement = {key for key, m in published_rev.items() if m is not None and m.name in per_model}
    display = list(shown.values())
    write("models/index.md", render.models_index(
        display,
        {m.name: len({(l.layer, l.head) for l in shown_labels[model_name_key(m.name)]}) for m in display},
        {m.name: claim_counts.get(model_name_key(m.name), 0) for m in display},
        {m.name: len(groups[model_name_key(m.name)]) for m in display},
    ))
    circuits_by_identity: dict[tuple[str, str], list] = defaultdict(list)
    for c in db.circuits(with_edges=False):
        circuits_by_identity[(model_name_key(c.model), c.revision or "")].append(c)
    for key, m in shown.items():
        slug = model_slug(m.name)
        identity = (key, m.revision or "")
        heatmaps = []
        if identity in scored:
            latest: dict[str, RunInfo] = {}
            for r in runs_by_identity[identity]:
                if r.status == "succeeded":
                    latest.setdefault(r.detector, r)
            for detector in sorted(latest):
                for head_type in REGISTRY[detector].metadata.head_types if detector in REGISTRY else ():
                    try:
                        grid = db.scores(m.name, head_type, revision=m.revision or "")
                    except LookupError:
                        continue
                    labelled = [l for l in shown_labels[key] if l.head_type == head_type]
                    image = f"{head_type}.svg"
                    title = f"{type_names.get(head_type, head_type)}: {m.name}" + (f"@{m.revision}" if m.revision else "")
                    write(f"models/{slug}/{image}", heatmap_svg(grid.tolist(), title, {(l.layer, l.head) for l in labelled}))
                    heatmaps.append(render.Heatmap(head_type, image, labelled, detector))
        revisions = [
            render.Revision(r.revision or "", r.step, len(runs_by_identity[(key, r.revision or "")]),
                            len({(l.layer, l.head) for l in labels_of.get((key, r.revision or ""), [])}))
            for r in groups[key]
        ]
        training_link = f"../training/{slug}.md" if key in with_training else None
        write_model_heatmaps(write, m, published_by_key[key], type_names)
        write(f"models/{slug}.md", render.model_page(m, heatmaps, runs_by_identity[identity], type_names,
                                                     revisions, training_link, key in in_agreement)
              + catalog_pages.model_section(m, published_by_key[key], type_names)
              + evidence.model_circuits_section(circuits_by_identity[identity]))

    per_model_published = {m.name: list(db.agreement(m.name, basis="published"))
                           for key, m in published_rev.items() if m is not None and published_by_key[key]}
    write("agreement/index.md", render.agreement_page(per_model, scored_names, type_names)
          + catalog_pages.published_agreement_section(per_model_published, type_names))
    report = db.validation()
    validated = {r.detector for r in report.rows} if report is not None else set()
    write("detectors.md", render.detectors_page([REGISTRY[n].metadata for n in sorted(REGISTRY)], type_names, validated))
    write("published/index.md", catalog_pages.published_index(published, type_names))
    labels_by_name: dict[str, list[LabelInfo]] = defaultdict(list)
    for ls in labels_of.values():
        for l in ls:
            labels_by_name[l.model].append(l)
    catalog_pages.write_api(write, papers, head_types, models, claims, published, labels_by_name)
    write_evidence_pages(db, write, type_names)
    return pages


def write_evidence_pages(db: HeadDB, write: Callable[[str, str], None], type_names: dict[str, str]) -> None:
    """The detector validation report and one page (with graph and curve) per circuit."""
    from headdb.zoo import ZOO

    write("validation.md", evidence.validation_page(db.validation(), type_names, {n: s.description for n, s in ZOO.items()}))
    circuits = db.circuits()
    write("circuits/index.md", evidence.circuits_index(circuits))
    roles: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for model, revision in {(c.model, c.revision or "") for c in circuits}:
        for label in db.labels(model, revision=revision):
            if label.circuit_id is not None:
                roles[label.circuit_id][label.coordinate].append(label.head_type)
    for c in circuits:
        slug = evidence.circuit_slug(c)
        write(f"circuits/{slug}.md", evidence.circuit_page(c, roles[c.id], type_names))
        write(f"circuits/{slug}/graph.svg", evidence.circuit_svg(c, roles[c.id]))
        write(f"circuits/{slug}/curve.svg", evidence.curve_svg(c.curve, float(c.config.get("target_faithfulness") or 0.8)))


def _shown_revision(revisions: list[ModelInfo], scored: set[tuple[str, str]]) -> ModelInfo:
    """The revision a model's page shows: as published if it has results, else the scored
    revision with the latest training step, else as published, else the first."""
    from headdb.db.models import model_name_key

    def has_results(m: ModelInfo) -> bool:
        return (model_name_key(m.name), m.revision or "") in scored

    published = next((m for m in revisions if not m.revision), None)
    if published is not None and has_results(published):
        return published
    with_results = [m for m in revisions if has_results(m)]
    if with_results:
        return max(with_results, key=lambda m: (m.step is not None, m.step or 0, m.revision or ""))
    return published or revisions[0]


def stage(db: HeadDB, staging: Path) -> tuple[Path, int]:
    """Write the docs tree (hand-written copy + generated pages) into ``staging``/docs, which
    must not exist yet; returns it and the number of pages written."""
    docs = staging / "docs"
    shutil.copytree(HAND_WRITTEN, docs)
    pages = write_pages(db, docs)
    return docs, pages


def _check_output(site_dir: Path) -> None:
    """Refuse ``site_dir`` unless it is absent, empty, or a site headdb built."""
    parent = next((p for p in site_dir.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise SiteOutputError(f"cannot put the site at {site_dir}: {parent} is not a directory")
    if not site_dir.exists():
        return
    if not site_dir.is_dir():
        raise SiteOutputError(f"{site_dir} exists and is not a directory; choose another --out")
    if (site_dir / MARKER).is_file() or not any(site_dir.iterdir()):
        return
    raise SiteOutputError(
        f"refusing to replace {site_dir}: it is not empty and was not built by headdb "
        f"(no {MARKER} file in it); choose another --out, or empty it yourself"
    )


@contextmanager
def _staging(staging: Path | str | None) -> Iterator[Path]:
    """This build's own staging directory: ``staging`` if given (absent or empty; kept
    afterwards), else a fresh one under ``build/``, removed afterwards."""
    if staging is not None:
        path = Path(staging)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise SiteOutputError(f"staging directory {path} is not empty")
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="site-src-", dir=BUILD_DIR))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _sibling(site_dir: Path, purpose: str) -> Path:
    # Beside the output, so that renaming it into place stays on one file system (atomic).
    return site_dir.with_name(f".{site_dir.name}.{purpose}-{uuid.uuid4().hex[:12]}")


def _replace(site_dir: Path, new_site: Path) -> None:
    """Put the finished ``new_site`` at ``site_dir``, replacing an earlier headdb build there.

    Each step is a rename within one directory. With builds racing, each retries until its own
    rename lands: every build succeeds and a whole site (the last one's) ends up in place."""
    for _ in range(100):
        try:
            os.rename(new_site, site_dir)  # works if site_dir is absent or an empty directory
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        _check_output(site_dir)  # it may have changed while this build ran
        old = _sibling(site_dir, "old")
        try:
            os.rename(site_dir, old)
        except FileNotFoundError:
            continue  # another build moved it away first
        shutil.rmtree(old, ignore_errors=True)
    raise SiteOutputError(f"could not put the site at {site_dir}: other builds kept replacing it")


def build_site(db: HeadDB, site_dir: Path | str = "site", staging: Path | str | None = None, strict: bool = True) -> Path:
    """Render the database and build the static site into ``site_dir``; returns its path.

    ``site_dir`` must be absent, empty, or a site headdb built (else ``SiteOutputError``, and
    nothing is touched). ``staging``, if given, receives the Markdown sources and is kept."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    site_dir = Path(site_dir).resolve()
    _check_output(site_dir)
    site_dir.parent.mkdir(parents=True, exist_ok=True)
    new_site = _sibling(site_dir, "building")
    new_site.mkdir()  # first, so that an unwritable destination fails before any work
    try:
        with _staging(staging) as staging_dir:
            docs, _ = stage(db, staging_dir)
            config_file = staging_dir / "mkdocs.yml"
            config_file.write_text(yaml.safe_dump(mkdocs_config(docs.resolve(), new_site), sort_keys=False))
            try:
                build(load_config(str(config_file), strict=strict))
            except MkDocsException as exc:
                raise SiteBuildError(f"mkdocs could not build the site: {exc.format_message()}") from None
            (new_site / MARKER).write_text(MARKER_TEXT)
            _replace(site_dir, new_site)
    finally:
        shutil.rmtree(new_site, ignore_errors=True)  # gone already unless the build failed
    return site_dir
