"""The README's main job, end to end on the zoo's fast subset, on a scratch database and site."""

from __future__ import annotations

import pytest

from headdb import HeadDB

from conftest import MainJobRun

pytestmark = pytest.mark.slow


def test_main_job_stores_catalog_validation_circuits_and_site(main_job_run: MainJobRun) -> None:
    out, db = main_job_run.output, HeadDB(main_job_run.url)
    assert out.startswith("ingested: ")
    assert len(db.papers()) >= 80 and db.published()
    report = db.validation()
    assert report is not None and report.subset == "fast" and report.rows
    assert f"validation run {report.id}:" in out
    circuits = db.circuits("zoo-planted", task="ioi", with_edges=False)
    assert circuits and circuits[0].n_edges > 0 and f"zoo-planted: ioi circuit {circuits[0].id}" in out
    site = main_job_run.site
    for page in ("index.html", "validation/index.html", "circuits/index.html", "detectors/index.html",
                 "training/index.html", "published/index.html", "api/index.json"):
        assert (site / page).exists(), page


def test_main_job_labels_stories260k_when_it_is_beside_the_checkout(main_job_run: MainJobRun) -> None:
    from headdb.main_job import stories_dir

    if stories_dir() is None:
        assert "skipping stories260K" in main_job_run.output
        pytest.skip("needs ../shared/models/stories260K (CI has it)")
    line = next(l for l in main_job_run.output.splitlines() if l.startswith("stories260K:"))
    assert "detector runs stored" in line
    runs = HeadDB(main_job_run.url).runs("stories260K")
    assert runs and all(r.status in ("succeeded", "not-applicable") for r in runs)
    assert (main_job_run.site / "models" / "stories260k" / "index.html").exists()
