"""`headdb ingest`: validates first, writes nothing on error, syncs, and is idempotent."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from headdb import HeadDB
from headdb.catalog.validate import CatalogError
from headdb.cli import main
from headdb.db.models import Claim, HeadType, Paper

from conftest import PAPERS, shared_path

KC = "2024-knowledge-circuits-pretrained-transformers.yaml"


def _rows(db: HeadDB) -> dict[str, object]:
    with Session(db.engine) as s:
        return {
            "papers": s.execute(select(Paper.slug, Paper.title, Paper.innovation, Paper.updated_at).order_by(Paper.slug)).all(),
            "claims": s.scalar(select(func.count()).select_from(Claim)),
            "head_types": s.scalar(select(func.count()).select_from(HeadType)),
        }


def test_ingest_loads_whole_catalog(catalog_db: HeadDB) -> None:
    assert len(catalog_db.papers()) >= 68
    assert len(catalog_db.head_types()) >= 40
    # every reference claim, plus the seeds' claims the reference lacks (test_catalog_reference.py)
    assert len(catalog_db.claims()) >= sum(1 for _ in csv.DictReader(shared_path("reference", "published_claims.csv").open()))


def test_every_seed_paper_is_catalogued(catalog_db: HeadDB) -> None:
    rows = [r for r in csv.DictReader(shared_path("reference", "survey_papers.csv").open()) if r["date"] <= "2024-11-15"]
    titles = {p.title for p in catalog_db.papers()}
    missing = [r["title"] for r in rows if r["title"] not in titles]
    assert missing == []
    assert "Knowledge Circuits in Pretrained Transformers" in titles
    assert any(t.startswith("How does GPT-2 compute greater-than?") for t in titles)


def test_every_published_claim_is_stored_with_its_source(catalog_db: HeadDB) -> None:
    stored = {(c.model, c.coordinate, c.head_type, c.source) for c in catalog_db.claims()}
    for row in csv.DictReader(shared_path("reference", "published_claims.csv").open()):
        # A type merged into another as a duplicate is stored under the surviving type.
        head_type = catalog_db.head_type(row["head_type"]).slug if row["head_type"] else None
        key = (row["model"], row["head"], head_type, row["source"])
        assert key in stored, row


def test_second_ingest_changes_nothing(catalog_db: HeadDB) -> None:
    before = _rows(catalog_db)
    report = catalog_db.ingest(PAPERS)
    assert not report.changed
    assert report.papers.unchanged == len(before["papers"])  # type: ignore[arg-type]
    assert _rows(catalog_db) == before


def test_edit_add_and_remove_are_synced(empty_db: HeadDB, papers_copy: Path) -> None:
    empty_db.ingest(papers_copy)
    n = len(empty_db.papers())
    path = papers_copy / KC
    data = yaml.safe_load(path.read_text())
    data["summary"]["innovation"] = "Edited innovation text."
    path.write_text(yaml.safe_dump(data))
    (papers_copy / "2023-gpt-2-compute-greater-than.yaml").unlink()
    new = dict(data, title="A Brand New Paper on Heads", arxiv="2501.00001", claims=[])
    (papers_copy / "2025-brand-new.yaml").write_text(yaml.safe_dump(new))

    report = empty_db.ingest(papers_copy)
    assert (report.papers.added, report.papers.updated, report.papers.removed) == (1, 1, 1)
    assert len(empty_db.papers()) == n
    assert empty_db.paper("2024-knowledge-circuits-pretrained-transformers").innovation == "Edited innovation text."
    assert empty_db.claims(paper="2023-gpt-2-compute-greater-than") == []
    assert empty_db.paper("2501.00001").title == "A Brand New Paper on Heads"


def test_invalid_catalog_writes_nothing(catalog_db: HeadDB, papers_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _rows(catalog_db)
    path = papers_copy / KC
    data = yaml.safe_load(path.read_text())
    data["summary"]["innovation"] = "This edit must not land."
    data["date"] = "2024-99-99"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CatalogError) as excinfo:
        catalog_db.ingest(papers_copy)
    assert "malformed date" in str(excinfo.value)
    assert _rows(catalog_db) == before
    assert main(["--url", catalog_db.url, "ingest", str(papers_copy)]) == 1
    assert "nothing was written" in capsys.readouterr().err
    assert _rows(catalog_db) == before


def test_ingest_needs_migrated_database(db_url: str) -> None:
    db = HeadDB(db_url)
    with pytest.raises(RuntimeError, match="headdb db upgrade"):
        db.ingest(PAPERS)
