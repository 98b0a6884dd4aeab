"""The README's main job: database, catalog, the ground-truth zoo and its validation report,
detector runs on the real models available offline, and the site.

No model hub is reachable on a fresh machine, so the job labels the models headdb can provide
itself (the zoo, built once into its cache) and the real pretrained stories260K model when
../shared/models is beside the checkout (or $HEADDB_STORIES260K names it).
"""

from __future__ import annotations

import os
from pathlib import Path

from headdb.api import HeadDB

REPO = Path(__file__).resolve().parents[1]
STORIES = REPO.parent / "shared" / "models" / "stories260K"


def stories_dir() -> Path | None:
    """The stories260K directory, if it is here."""
    path = Path(os.environ.get("HEADDB_STORIES260K", STORIES))
    return path if (path / "config.json").exists() else None


def _summary(name: str, outcomes: list) -> str:  # type: ignore[type-arg]
    done = [o for o in outcomes if o.status == "succeeded"]
    labels = sum(len(h) for o in done for h in o.labels.values())
    skipped = sum(o.status == "skipped" for o in outcomes)
    na = [o.detector for o in outcomes if o.status == "not-applicable"]
    return (f"{name}: {len(done)} detector runs stored ({labels} labelled heads), {skipped} unchanged"
            + (f", not applicable: {', '.join(na)}" if na else ""))


# Circuits the main job discovers on the bundled models, one per task the model can express (the
# circuit detectors add one per factual relation during validation).
BUNDLED_CIRCUITS: tuple[tuple[str, str], ...] = (
    ("zoo-planted", "ioi"),
    ("zoo-gpt2-ioi", "ioi"),
    ("zoo-llama-lookup", "greater-than"),
    ("zoo-llama-lookup", "factual:color"),
)


def run_main_job(db: HeadDB, papers: Path, site_dir: Path, *, cache: Path | None = None, fast: bool = False) -> None:
    from headdb.circuits.store import run_circuit
    from headdb.jobs.loading import load_model
    from headdb.jobs.runner import run_detectors
    from headdb.site.build import build_site
    from headdb.validation.report import validate_detectors
    from headdb.zoo import ZOO, build, selected

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    db.upgrade()
    report = db.ingest(papers)
    print(("ingested: " if report.changed else "catalog unchanged: ") + report.summary())
    stories = stories_dir()
    specs = selected(fast=fast)
    validation = validate_detectors(db, specs, subset="fast" if fast else "full", cache=cache, stories=stories,
                                    log=print)
    judged = [r for r in validation.rows if r.metrics.n_positive]
    print(f"validation run {validation.run_id}: {len(specs)} zoo models, {len(validation.rows)} detector/type/model "
          f"results ({len(judged)} with true heads)")
    for model, task in BUNDLED_CIRCUITS:
        spec = ZOO[model]
        if spec not in specs:
            continue
        outcome = run_circuit(db, load_model(str(build(spec, cache)), name=model), task)
        print(f"{model}: {task} circuit {outcome.circuit_id} ({outcome.status})")
    if stories is not None:
        print(_summary("stories260K", run_detectors(db, load_model(str(stories), name="stories260K"))))
    else:
        print("skipping stories260K: not found beside the checkout (set HEADDB_STORIES260K to its directory)")
    site = build_site(db, site_dir)
    print(f"site built: {site / 'index.html'}")
