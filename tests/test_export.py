"""`headdb export` and `headdb import`: JSON, CSV and Parquet exports that round-trip through an
empty database, BibTeX for the whole catalog, and `headdb new paper` skeletons."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from pybtex.database import parse_file
from sqlalchemy import select
from sqlalchemy.orm import Session

from headdb import HeadDB
from headdb.catalog.validate import load_catalog
from headdb.cli import main
from headdb.db.models import DetectorRun, Head, HeadLabel, HeadScore, HeadType, Model
from headdb.export import ImportTargetError, export_tables, import_catalog, read_export, write_export

from conftest import PAPERS


def _add_detector_run(db: HeadDB) -> None:
    """A run with scores and labels (a detector job's rows), so they take part in the round trip."""
    with Session(db.engine) as s, s.begin():
        model = s.scalar(select(Model).where(Model.name == "gpt2"))
        induction = s.scalar(select(HeadType).where(HeadType.slug == "induction"))
        run = DetectorRun(model=model, detector="induction", detector_version="2.0", config={"seed": 0, "n": [1, 2]},
                          config_fingerprint="c" * 64, data_fingerprint="d" * 64, weights_fingerprint=None,
                          library_versions={"torch": "2.13.0"}, device="cpu", dtype="float32",
                          started_at=dt.datetime(2025, 1, 2, 3, 4, 5, 678901), finished_at=None, duration_s=1.25,
                          status="succeeded", error=None)
        s.add(run)
        for i, (layer, head) in enumerate([(5, 5), (6, 9), (0, 0)]):
            h = s.scalar(select(Head).where(Head.model_id == model.id, Head.layer == layer, Head.head == head)) or Head(
                model=model, layer=layer, head=head)
            score = 0.1 + 0.3 * (2 - i) / 3
            s.add(HeadScore(run=run, head_type=induction, head=h, score=score, rank=i + 1,
                            components={"prefix": score, "copy": 0.5}, ci_low=score - 0.01, ci_high=None, p_value=0.001, q_value=None))
            if i < 2:
                s.add(HeadLabel(run=run, head_type=induction, head=h, score=score,
                                evidence=[{"check": "prefix", "value": score, "threshold": 0.5}]))


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet"])
def test_export_round_trips_through_an_empty_database(catalog_db: HeadDB, db_url: str, tmp_path: Path, fmt: str) -> None:
    _add_detector_run(catalog_db)
    original = export_tables(catalog_db.engine)
    assert original["published_values"] and original["head_scores"] and original["claims"]
    write_export(original, tmp_path / "out", fmt)
    assert read_export(tmp_path / "out") == json.loads(json.dumps(original))  # the files hold exactly the tables
    target = HeadDB(f"sqlite:///{tmp_path / 'target.sqlite'}")
    target.upgrade()
    counts = import_catalog(target.engine, tmp_path / "out")
    assert counts["papers"] == len(original["papers"])
    assert export_tables(target.engine) == original
    # and the imported database answers queries like the original
    assert [p.slug for p in target.papers(head_type="retrieval")] == [p.slug for p in catalog_db.papers(head_type="retrieval")]
    assert [(l.coordinate, l.score, l.rank) for l in target.labels("gpt2")] == [
        (l.coordinate, l.score, l.rank) for l in catalog_db.labels("gpt2")]
    target.engine.dispose()


def test_import_refuses_a_database_that_is_not_empty(catalog_db: HeadDB, tmp_path: Path) -> None:
    write_export(export_tables(catalog_db.engine), tmp_path / "j", "json")
    with pytest.raises(ImportTargetError):
        import_catalog(catalog_db.engine, tmp_path / "j")


def test_cli_export_import_and_bibtex(catalog_db: HeadDB, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", catalog_db.url, "export", "--format", "csv", "--out", str(tmp_path / "csv"),
                 "--bibtex", str(tmp_path / "catalog.bib")]) == 0
    bib = parse_file(str(tmp_path / "catalog.bib"), "bibtex")
    assert len(bib.entries) == len(catalog_db.papers())
    target = f"sqlite:///{tmp_path / 'new.sqlite'}"
    assert main(["--url", target, "db", "upgrade"]) == 0
    assert main(["--url", target, "import", str(tmp_path / "csv")]) == 0
    assert main(["--url", target, "import", str(tmp_path / "csv")]) == 1  # not empty any more
    assert "not empty" in capsys.readouterr().err
    assert main(["--url", target, "import", str(tmp_path)]) == 1  # no export there
    assert len(HeadDB(target).claims()) == len(catalog_db.claims())


def test_new_paper_skeleton_reports_its_todos_until_filled(tmp_path: Path) -> None:
    papers = tmp_path / "papers"
    assert main(["new", "paper", "--arxiv", "2304.05969", "--title", "Localizing Model Behavior: A Test Copy",
                 "--head", "Induction Head", "--papers", str(papers)]) == 0
    (path,) = papers.glob("*.yaml")
    assert path.name == "2023-localizing-model-behavior-test-copy.yaml"
    problems = load_catalog(papers).problems
    assert problems and all("TODO placeholder" in p.message for p in problems)
    assert {p.field for p in problems} >= {"authors[0]", "summary.innovation", "missing.venue"}
    data = yaml.safe_load(path.read_text())
    data["authors"] = ["Ada Lovelace"]
    data["missing"]["venue"] = "an arXiv preprint as far as checked"
    data["sources"] = {"date": "the arXiv id's month", "arxiv": data["sources"]["arxiv"]}
    data["summary"] = {k: f"Filled {k}." for k in data["summary"]}
    path.write_text(yaml.safe_dump(data))
    assert load_catalog(papers).ok
    assert main(["new", "paper", "--arxiv", "2304.05969", "--title", "Localizing Model Behavior: A Test Copy",
                 "--papers", str(papers)]) == 1  # exists already
    assert main(["new", "paper", "--arxiv", "not-an-id", "--title", "T", "--papers", str(papers)]) == 2  # bad argument


def test_github_annotations_name_file_line_and_field(papers_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = papers_copy / "2024-knowledge-circuits-pretrained-transformers.yaml"
    data = yaml.safe_load(path.read_text())
    data["claims"][1]["head"] = "99.0"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["validate", str(papers_copy), "--github-annotations"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    line = next(i for i, text in enumerate(path.read_text().splitlines(), start=1) if "'99.0'" in text)
    assert out[0].startswith(f"::error file={path},line={line},title=claims[1].head::head 99.0 is outside gpt2-medium")


def test_whole_catalog_validates_with_published_data() -> None:
    catalog = load_catalog(PAPERS)
    assert catalog.ok and len(catalog.published) >= 9


def test_cli_published_and_head_type_kind(catalog_db: HeadDB, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", catalog_db.url, "published", "--model", "yi-6b-200k", "--json"]) == 0
    (dataset,) = json.loads(capsys.readouterr().out)
    assert dataset["head_type"] == "retrieval" and dataset["threshold"] == 0.1 and len(dataset["values"]) == 32 * 32
    assert dataset["source_url"].startswith("https://github.com/nightdessert/Retrieval_Head/blob/")
    assert main(["--url", catalog_db.url, "head-types", "--kind", "intervention-selected", "--json"]) == 0
    kinds = {row["kind"] for row in json.loads(capsys.readouterr().out)}
    assert kinds == {"intervention-selected"}
    assert main(["--url", catalog_db.url, "agreement", "Llama-2-7B-80K", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    published = [r for r in rows if r["basis"] == "published"]
    assert {r["coordinate"] for r in published if r["status"] == "agree"} == {"16.19", "11.15", "8.26", "6.9", "7.12"}
    assert len(published) == 33  # the heads past 0.1; the five claimed among them
