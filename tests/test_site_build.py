"""The strict mkdocs build from a real database, escaping of hostile entries, and link coverage."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pytest
import yaml

from headdb import HeadDB
from headdb.cli import main
from headdb.site.build import build_site

from conftest import PAPERS, shared_path

pytestmark = pytest.mark.slow
KC = "2024-knowledge-circuits-pretrained-transformers"


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory, test_models) -> tuple[HeadDB, Path]:  # type: ignore[no-untyped-def]
    """The real catalog plus detector runs on the planted model, built strictly."""
    from headdb.jobs.loading import load_model
    from headdb.jobs.runner import run_detectors

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = tmp_path_factory.mktemp("site")
    db = HeadDB(f"sqlite:///{root / 'site.sqlite'}")
    db.upgrade()
    db.ingest(PAPERS)
    run_detectors(db, load_model(str(test_models["planted"]), name="headdb-planted"))
    return db, build_site(db, root / "out", staging=root / "src")


def test_every_paper_and_head_type_has_a_page(built_site) -> None:  # type: ignore[no-untyped-def]
    db, site = built_site
    for paper in db.papers():
        assert (site / "papers" / paper.slug / "index.html").exists(), paper.slug
    for head_type in db.head_types():
        assert (site / "taxonomy" / head_type.slug / "index.html").exists(), head_type.slug
    seed = {r["title"] for r in csv.DictReader(shared_path("reference", "survey_papers.csv").open()) if r["date"] <= "2024-11-15"}
    slugs = {p.title: p.slug for p in db.papers()}
    assert seed <= set(slugs)
    index = (site / "papers" / "index.html").read_text()
    assert all(f'href="../{slugs[t]}/"' in index or f'href="{slugs[t]}/"' in index for t in seed)


def test_papers_and_head_types_link_both_ways(built_site) -> None:  # type: ignore[no-untyped-def]
    _, site = built_site
    paper = (site / "papers" / KC / "index.html").read_text()
    assert 'href="../../taxonomy/mover/"' in paper and 'href="../../taxonomy/relation/"' in paper
    head_type = (site / "taxonomy" / "mover" / "index.html").read_text()
    assert f'href="../../papers/{KC}/"' in head_type
    assert 'href="../../models/gpt2-medium/"' in head_type  # claimed in gpt2-medium


def test_model_page_has_heatmaps_and_labels(built_site) -> None:  # type: ignore[no-untyped-def]
    _, site = built_site
    page = (site / "models" / "headdb-planted" / "index.html").read_text()
    assert page.count('src="../headdb-planted/') >= 9 or page.count(".svg") >= 9
    svg = (site / "models" / "headdb-planted" / "induction.svg").read_text()
    assert "stroke-dasharray" in svg and ">1.00</text>" in svg
    gpt2 = (site / "models" / "gpt2" / "index.html").read_text()
    assert "No detector has been run on this model yet" in gpt2


def test_agreement_page_separates_scored_models(built_site) -> None:  # type: ignore[no-untyped-def]
    _, site = built_site
    page = (site / "agreement" / "index.html").read_text()
    assert "No detector has been run on" in page  # gpt2 and friends: claims only
    assert "detected, not claimed" in page  # the planted model: labels nobody claimed


def test_home_page_counts(built_site) -> None:  # type: ignore[no-untyped-def]
    db, site = built_site
    home = (site / "index.html").read_text()
    assert f"<td>{len(db.papers())}</td>" in home and "Newest papers" in home


def test_all_internal_links_resolve(built_site) -> None:  # type: ignore[no-untyped-def]
    _, site = built_site
    missing = []
    for page in site.rglob("*.html"):
        if page.name == "404.html":  # mkdocs writes it with root-absolute links, for the server root
            continue
        for href in re.findall(r'href="([^"#:?]+)(?:#[^"]*)?"', page.read_text()):
            if href.startswith(("http", "//", "mailto")):
                continue
            target = (page.parent / href).resolve()
            if not (target.exists() or (target / "index.html").exists()):
                missing.append(f"{page.relative_to(site)} -> {href}")
    assert missing == []


def test_script_in_entry_renders_as_text(tmp_path: Path, papers_copy: Path) -> None:
    path = papers_copy / f"{KC}.yaml"
    data = yaml.safe_load(path.read_text())
    data["title"] = 'Knowledge <script>alert("title")</script> Circuits **bold**'
    data["summary"]["innovation"] = '<script>alert("summary")</script> <img src=x onerror=alert(1)> [x](javascript:alert(2))'
    path.write_text(yaml.safe_dump(data))
    db = HeadDB(f"sqlite:///{tmp_path / 'x.sqlite'}")
    db.upgrade()
    db.ingest(papers_copy)
    site = build_site(db, tmp_path / "out", staging=tmp_path / "src")
    html = (site / "papers" / KC / "index.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html and 'href="javascript:' not in html
    assert "&lt;script&gt;alert(&quot;summary&quot;)&lt;/script&gt;" in html
    for page in site.rglob("*.html"):
        assert "<script>alert" not in page.read_text(), page
    assert "<script>alert" not in (site / "search" / "search_index.json").read_text()


def test_cli_site_build(catalog_db: HeadDB, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", catalog_db.url, "site", "build", "--out", str(tmp_path / "site")]) == 0
    assert "site built:" in capsys.readouterr().out
    assert (tmp_path / "site" / "agreement" / "index.html").exists()
    text = (tmp_path / "site" / "agreement" / "index.html").read_text()
    assert "No detector has been run yet." in text
