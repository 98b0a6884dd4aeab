"""The README's main job: database, catalog, detector runs on the models available offline, site.

On a fresh machine no model hub is reachable, so the job labels the models headdb can provide
itself (the planted ground-truth model and its random control, written on first use) and the
real pretrained stories260K model when ../shared/models is beside the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

from headdb.api import HeadDB

REPO = Path(__file__).resolve().parents[1]
STORIES = REPO.parent / "shared" / "models" / "stories260K"


def offline_models(models_dir: Path) -> list[tuple[str, Path]]:
    """(name, directory) of every model the main job labels, building the test models if needed."""
    from headdb.models.planted import build_test_models

    models = list(build_test_models(models_dir, rebuild=False).items())
    stories = Path(os.environ.get("HEADDB_STORIES260K", STORIES))
    if (stories / "config.json").exists():
        models.append(("stories260K", stories))
    else:
        print(f"skipping stories260K: not found at {stories} (set HEADDB_STORIES260K to its directory)")
    return models


def run_main_job(db: HeadDB, papers: Path, models_dir: Path, site_dir: Path) -> None:
    from headdb.jobs.loading import load_model
    from headdb.jobs.runner import run_detectors
    from headdb.site.build import build_site

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    db.upgrade()
    report = db.ingest(papers)
    print(("ingested: " if report.changed else "catalog unchanged: ") + report.summary())
    for name, directory in offline_models(models_dir):
        loaded = load_model(str(directory), name=name)
        outcomes = run_detectors(db, loaded, progress=False)
        done = [o for o in outcomes if o.status == "succeeded"]
        labels = sum(len(h) for o in done for h in o.labels.values())
        skipped = sum(o.status == "skipped" for o in outcomes)
        na = [o.detector for o in outcomes if o.status == "not-applicable"]
        print(
            f"{name}: {len(done)} detector runs stored ({labels} labelled heads), {skipped} unchanged"
            + (f", not applicable: {', '.join(na)}" if na else "")
        )
    site = build_site(db, site_dir)
    print(f"site built: {site / 'index.html'}")
