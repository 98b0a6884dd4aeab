"""Concurrent headdb processes: writers serialise on the database's own lock (BEGIN IMMEDIATE on
SQLite, an advisory lock on PostgreSQL), so they neither duplicate rows nor fail on unique keys;
concurrent site builds each stage privately and both leave a whole site.

Each test starts real `headdb` processes at once, as a busy lab would."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import headdb.db.engine as engine_module
from headdb import HeadDB
from headdb.catalog.validate import load_catalog
from headdb.cli import main
from headdb.db.engine import write_session
from headdb.db.migrate import current_revision, head_revision
from headdb.db.models import Claim, Head, HeadType, Paper, PaperLink

from conftest import PAPERS, REPO

WRITERS = 4
KC = "2024-knowledge-circuits-pretrained-transformers"
TIMEOUT = 300
START_DELAY_S = 3.0  # enough for every process to import headdb before the common start

# `headdb ARGV...`, begun at one wall-clock instant by every process (imports done first), so
# that the commands really overlap instead of being spread out by start-up jitter.
_AT = """
import sys, time
from headdb.cli import main
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
sys.exit(main(sys.argv[2:]))
"""


def _headdb_at_once(*argvs: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run one `headdb` process per argv, all starting their command at the same moment."""
    start = f"{time.time() + START_DELAY_S:.3f}"
    procs = [
        subprocess.Popen([sys.executable, "-c", _AT, start, *argv], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for argv in argvs
    ]
    results = []
    for proc, argv in zip(procs, argvs, strict=True):
        out, err = proc.communicate(timeout=TIMEOUT)
        results.append(subprocess.CompletedProcess(argv, proc.returncode, out, err))
    return results


def _assert_all_succeeded(results: list[subprocess.CompletedProcess[str]]) -> None:
    for result in results:
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        assert result.returncode == 0, result.stderr


def _grown_catalog(papers: Path, n_new: int = 150) -> int:
    """Edit one entry and add ``n_new`` (so that an ingest takes long enough to overlap)."""
    path = papers / f"{KC}.yaml"
    data = yaml.safe_load(path.read_text())
    data["summary"]["innovation"] = "Edited while four ingests ran."
    path.write_text(yaml.safe_dump(data))
    for i in range(n_new):
        new = dict(data, title=f"Concurrent Paper {i}", links=[f"https://example.org/{i}"])
        new.pop("arxiv", None)
        new["missing"] = {**(data.get("missing") or {}), "arxiv": "a synthetic entry of this test"}
        (papers / f"2099-concurrent-{i:03d}.yaml").write_text(yaml.safe_dump(new))
    return n_new


def _counts(db: HeadDB) -> dict[str, int]:
    with Session(db.engine) as s:
        return {
            name: s.scalar(select(func.count()).select_from(table)) or 0
            for name, table in (("papers", Paper), ("claims", Claim), ("heads", Head),
                                ("head_types", HeadType), ("links", PaperLink))
        }


def test_concurrent_ingests_serialise_and_never_duplicate(catalog_db: HeadDB, papers_copy: Path) -> None:
    n_new = _grown_catalog(papers_copy)
    catalog = load_catalog(papers_copy)
    assert catalog.ok

    results = _headdb_at_once(*(["--url", catalog_db.url, "ingest", str(papers_copy)] for _ in range(WRITERS)))

    _assert_all_succeeded(results)
    firsts = [r.stdout for r in results if r.stdout.startswith("ingested:")]
    assert len(firsts) == 1, [r.stdout for r in results]
    assert f"papers: {n_new} added, 1 updated, 0 removed" in firsts[0]
    assert sum(r.stdout.startswith("no changes:") for r in results) == WRITERS - 1

    counts = _counts(catalog_db)
    assert counts["papers"] == len(catalog.papers)
    assert counts["claims"] == sum(len(p.entry.claims) for p in catalog.papers)
    assert counts["head_types"] == len(catalog.head_types)
    assert counts["links"] == sum(len(p.entry.links) for p in catalog.papers)
    assert catalog_db.paper(KC).innovation == "Edited while four ingests ran."
    assert not catalog_db.ingest(papers_copy).changed  # what is stored is exactly the catalog


def test_concurrent_ingests_into_an_empty_database(empty_db: HeadDB) -> None:
    results = _headdb_at_once(*(["--url", empty_db.url, "ingest", str(PAPERS)] for _ in range(WRITERS)))
    _assert_all_succeeded(results)
    assert sum(r.stdout.startswith("ingested:") for r in results) == 1
    catalog = load_catalog(PAPERS)
    assert _counts(empty_db)["papers"] == len(catalog.papers)
    assert _counts(empty_db)["claims"] == sum(len(p.entry.claims) for p in catalog.papers)


def test_concurrent_upgrades_all_end_at_head(db_url: str) -> None:
    results = _headdb_at_once(*(["--url", db_url, "db", "upgrade"] for _ in range(WRITERS)))
    _assert_all_succeeded(results)
    assert all(f"is at revision {head_revision()}" in r.stdout for r in results)
    db = HeadDB(db_url)
    assert current_revision(db.engine) == head_revision()
    db.ingest(PAPERS)  # and the schema works
    assert db.papers(head_type="successor")
    db.engine.dispose()


def test_writer_kept_waiting_too_long_gets_one_line(
    empty_db: HeadDB, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(engine_module, "WRITE_LOCK_TIMEOUT_S", 1)
    holder = HeadDB(empty_db.url)
    with write_session(holder.engine) as session:  # another writer, holding the lock
        session.execute(select(1))
        code = main(["--url", empty_db.url, "ingest", str(PAPERS)])
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("error: the database is busy") and err.count("\n") == 1, err
    assert empty_db.papers() == []
    assert main(["--url", empty_db.url, "ingest", str(PAPERS)]) == 0  # once it is free
    holder.engine.dispose()


@pytest.mark.slow
def test_concurrent_site_builds_both_leave_a_whole_site(tmp_path: Path) -> None:
    db = HeadDB(f"sqlite:///{tmp_path / 'site.sqlite'}")
    db.upgrade()
    db.ingest(PAPERS)
    out = tmp_path / "site"
    staging_before = set((REPO / "build").glob("site-src-*"))

    results = _headdb_at_once(*(["--url", db.url, "site", "build", "--out", str(out)] for _ in range(2)))

    _assert_all_succeeded(results)
    assert all(r.stdout.startswith("site built:") for r in results)
    assert (out / ".headdb-site").is_file() and (out / "index.html").is_file()
    for paper in db.papers():
        assert (out / "papers" / paper.slug / "index.html").is_file(), paper.slug
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site", "site.sqlite"]  # no leftovers
    assert set((REPO / "build").glob("site-src-*")) == staging_before
