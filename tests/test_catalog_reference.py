"""The catalog as a reference: complete bibliographic records, parseable BibTeX, a taxonomy
without duplicate pairs, the seeds' claims with their places and conflicts, and migration 0005's
merge of stored rows onto surviving types."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from pybtex.database import parse_string
from sqlalchemy import text

from headdb import HeadDB
from headdb.bibtex import bibtex_catalog, bibtex_entry, bibtex_key, bibtex_keys
from headdb.catalog.validate import DEFAULT_TAXONOMY, load_catalog
from headdb.db.migrate import upgrade
from headdb.results import PaperInfo

from conftest import PAPERS

KC = "2024-knowledge-circuits-pretrained-transformers"

# The suspected duplicate pairs of issue 9: each must now be one type (an alias of the other)
# or be recorded as distinct, with the reason.
SUSPECTED = [
    ("Answer Head", "Correct Head"),
    ("Copy Suppression Head", "Negative Name Mover Head"),
    ("Syntactic Dependency Head", "Syntactic Head"),
    ("Local Head", "Positional Head"),
    ("Local-context Head", "Streaming Head"),
    ("Attribute Extraction Head", "Mover Head"),
    ("Addition Head", "Arithmetic Head"),
]


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    loaded = load_catalog(PAPERS)
    assert loaded.ok, loaded.problems
    return loaded


# -- bibliographic records -----------------------------------------------------------------------


def test_every_entry_has_authors_venue_and_arxiv_or_says_why(catalog) -> None:  # type: ignore[no-untyped-def]
    for record in catalog.papers:
        e = record.entry
        assert e.authors or e.missing.get("authors"), record.slug
        assert e.venue or e.missing.get("venue"), record.slug
        assert e.arxiv or e.missing.get("arxiv"), record.slug
        assert e.date_precision in ("day", "month", "year") and e.published_in
        assert e.sources.get("date"), f"{record.slug}: where the date was read"
    with_authors = sum(bool(r.entry.authors) for r in catalog.papers)
    assert with_authors == len(catalog.papers)


def test_dates_are_first_public_versions(catalog) -> None:  # type: ignore[no-untyped-def]
    by_slug = {r.slug: r.entry for r in catalog.papers}
    ioi = by_slug["2023-interpretability-wild-circuit-indirect-object"]
    assert (ioi.date, ioi.date_precision, ioi.venue) == (dt.date(2022, 11, 1), "day", "ICLR 2023")
    assert by_slug["2024-successor-heads-recurring-interpretable-attention"].arxiv == "2312.09230"
    month = by_slug["2018-analysis-encoder-representations-transformer-based"]
    assert (month.date, month.date_precision) == (dt.date(2018, 11, 1), "month")


def test_imprecise_date_must_be_written_as_its_first_day(papers_copy: Path) -> None:
    path = papers_copy / f"{KC}.yaml"
    data = yaml.safe_load(path.read_text())
    data["date_precision"] = "month"  # the date is 2024-05-28: a day the precision does not know
    path.write_text(yaml.safe_dump(data))
    problems = [str(p) for p in load_catalog(papers_copy).problems]
    assert problems == [f"{path}: date: with date_precision month, write 2024-05-01 (the first day of what is known)"]


def test_empty_field_without_a_reason_is_reported(papers_copy: Path) -> None:
    path = papers_copy / f"{KC}.yaml"
    data = yaml.safe_load(path.read_text())
    del data["venue"], data["authors"]
    data["missing"] = {"arxiv": "stale reason"}
    path.write_text(yaml.safe_dump(data))
    problems = sorted(str(p) for p in load_catalog(papers_copy).problems)
    assert any("authors: empty: fill it, or say why in `missing.authors`" in p for p in problems)
    assert any("missing.arxiv: `arxiv` is filled, so remove `missing.arxiv`" in p for p in problems)
    assert any("venue: `venue` and `venue_year` go together" in p for p in problems)


def test_bibtex_of_every_entry_parses(catalog_db: HeadDB) -> None:
    papers = catalog_db.papers()
    keys = bibtex_keys(papers)
    assert len(set(keys.values())) == len(papers)
    # alone, each paper gets the key it has in the whole file (so pages and export agree)
    assert all(keys[p.slug] == bibtex_key(p) for p in papers)
    for paper in papers:
        parsed = parse_string(bibtex_entry(paper), "bibtex")
        (entry,) = parsed.entries.values()
        assert entry.fields["title"].strip("{}") == paper.title.replace("{", "(").replace("}", ")")
        assert len(entry.persons["author"]) == len(paper.authors)
    whole = parse_string(bibtex_catalog(papers), "bibtex")
    assert set(whole.entries) == set(keys.values())


def test_bibtex_survives_hostile_strings() -> None:
    paper = PaperInfo(
        slug="x", title="Braces } { and % & $ # _ ^ ~ \\ @misc{evil,", date=dt.date(2024, 1, 1), date_precision="day",
        venue=None, arxiv_id=None, authors=("A. {Unbalanced", "B @ C"), head_types=(), links=("https://e.com/{x}",),
        innovation="", tasks="", significant_result="", n_claims=0, published_in="Blog } of { things",
    )
    (entry,) = parse_string(bibtex_entry(paper), "bibtex").entries.values()
    assert len(entry.persons["author"]) == 2


# -- taxonomy ------------------------------------------------------------------------------------


def test_no_suspected_duplicate_pair_is_left(catalog) -> None:  # type: ignore[no-untyped-def]
    by_name = {}
    for entry in catalog.head_types:
        for name in (entry.name, *entry.aliases, *(m.name for m in entry.merged)):
            by_name[name] = entry
    for a, b in SUSPECTED:
        ea, eb = by_name[a], by_name[b]
        if ea.slug == eb.slug:
            merged = {m.name: m for m in ea.merged}
            assert (a in merged or b in merged) and all(m.reason for m in merged.values())
        else:
            distinct = {d.slug: d.reason for d in ea.distinct_from} | {d.slug: d.reason for d in eb.distinct_from}
            assert distinct.get(eb.slug) or distinct.get(ea.slug), (a, b)


def test_placements_cite_catalogued_papers_and_unplaced_types_say_why(catalog) -> None:  # type: ignore[no-untyped-def]
    slugs = {r.slug for r in catalog.papers}
    placed = unplaced = 0
    for entry in catalog.head_types:
        p = entry.placement
        if p.by == "headdb":
            assert p.paper in slugs and p.reason and entry.stage, entry.slug
            placed += 1
        elif p.by == "unplaced":
            assert p.reason and entry.stage is None, entry.slug
            unplaced += 1
    assert placed >= 20 and unplaced <= 10


def test_intervention_selected_types_are_marked(catalog) -> None:  # type: ignore[no-untyped-def]
    kinds = {e.slug: e.kind for e in catalog.head_types}
    for slug in ("safety", "accuracy", "truthfulness", "function-vector"):
        assert kinds[slug] == "intervention-selected"
    assert kinds["induction"] == kinds["name-mover"] == "mechanistic"


def test_old_names_still_resolve(catalog_db: HeadDB) -> None:
    for old, new in [("Answer Head", "correct"), ("copy-suppression", "negative-name-mover"), ("Addition Head", "arithmetic"),
                     ("global retrieval", "retrieval"), ("Attribute Extraction Head", "mover")]:
        assert catalog_db.head_type(old).slug == new
    copy = {(c.coordinate, c.paper) for c in catalog_db.claims(model="gpt2", head_type="Copy Suppression Head")}
    assert {("10.7", "2023-copy-suppression-comprehensively-understanding-attention"),
            ("10.7", "2023-interpretability-wild-circuit-indirect-object")} <= copy
    assert any(p.slug == "2024-answer-assemble-ace-understanding-transformers" for p in catalog_db.papers(head_type="Correct Head"))
    # CopyNet, an RNN, no longer answers retrieval-head queries
    assert all("copying-mechanism" not in p.slug for p in catalog_db.papers(head_type="retrieval"))
    assert catalog_db.head_types(kind="intervention-selected")


def test_every_survey_type_has_a_paper(catalog_db: HeadDB) -> None:
    for name in ("Global Retrieval Head", "Sentiment Summarizer", "Summary Reader", "Semantic Induction Head", "Correct Head"):
        assert catalog_db.papers(head_type=name), name


# -- seed claims ---------------------------------------------------------------------------------


def test_seed_claims_with_places_and_conflicts(catalog_db: HeadDB) -> None:
    claims = {(c.coordinate, c.head_type): c for c in catalog_db.claims(model="gpt2-medium", paper=KC)}
    intel = claims[("15.3", "mover")]
    assert "§5" in intel.source and "Fig. 4" in intel.source
    text_says, repo_says = claims[("15.10", "mover")], claims[("15.0", "mover")]
    assert "§6" in text_says.source and text_says.conflict and "15.0" in text_says.conflict
    assert repo_says.conflict and "L15H10" in repo_says.conflict
    assert text_says.confidence == "low"
    path_patching = catalog_db.paper("2304.05969")
    assert path_patching.title == "Localizing Model Behavior with Path Patching" and "induction" in path_patching.head_types


# -- migration 0005 ------------------------------------------------------------------------------


def test_migration_merges_stored_rows_onto_the_surviving_type(db_url: str) -> None:
    db = HeadDB(db_url)
    upgrade(db.engine, "0004")
    with db.engine.begin() as c:  # no explicit ids: PostgreSQL's sequences must stay in step

        def insert(sql: str, **params: object) -> int:
            c.execute(text(sql), params)
            return 0

        def id_of(table: str, where: str, **params: object) -> int:
            return c.execute(text(f"SELECT id FROM {table} WHERE {where}"), params).scalar_one()

        for slug, name in [("copy-suppression", "Copy Suppression Head"), ("negative-name-mover", "Negative Name Mover Head"),
                           ("answer", "Answer Head")]:
            insert("INSERT INTO head_types (slug, name, stage, description, model_families) VALUES (:s, :n, NULL, 'd', '[]')",
                   s=slug, n=name)
        cs, nnm = id_of("head_types", "slug = 'copy-suppression'"), id_of("head_types", "slug = 'negative-name-mover'")
        insert("INSERT INTO head_type_aliases (head_type_id, alias) VALUES (:t, 'CS Head')", t=cs)
        insert("INSERT INTO papers (slug, title, published_date, date_precision, venue, authors, innovation, tasks, "
               "significant_result, source_file, content_hash, updated_at) VALUES ('p', 'P', '2023-01-01', 'day', 'arXiv', "
               "'[]', 'i', 't', 's', 'papers/p.yaml', 'h', '2024-01-01 00:00:00')")
        paper = id_of("papers", "slug = 'p'")
        insert("INSERT INTO paper_head_types (paper_id, head_type_id, position) VALUES (:p, :a, 0), (:p, :b, 1)", p=paper, a=cs, b=nnm)
        insert("INSERT INTO models (name, name_key, revision, description) VALUES ('gpt2', 'gpt2', '', '')")
        model = id_of("models", "name = 'gpt2'")
        insert("INSERT INTO heads (model_id, layer, head) VALUES (:m, 10, 7)", m=model)
        head = id_of("heads", "model_id = :m", m=model)
        insert("INSERT INTO claims (paper_id, head_id, head_type_id, role, source, confidence) VALUES "
               "(:p, :h, :a, NULL, 'old source', 'high'), (:p, :h, :b, NULL, 'new source', 'high')", p=paper, h=head, a=cs, b=nnm)
        insert("INSERT INTO detector_runs (model_id, detector, detector_version, config, config_fingerprint, "
               "data_fingerprint, library_versions, device, dtype, started_at, status) VALUES "
               "(:m, 'x', '1', '{}', 'c', 'd', '{}', 'cpu', 'float32', '2024-01-01 00:00:00', 'succeeded')", m=model)
        run = id_of("detector_runs", "model_id = :m", m=model)
        insert("INSERT INTO head_scores (run_id, head_type_id, head_id, score, rank) VALUES (:r, :t, :h, 0.5, 1)", r=run, t=cs, h=head)
        insert("INSERT INTO head_labels (run_id, head_type_id, head_id, score) VALUES (:r, :t, :h, 0.5)", r=run, t=cs, h=head)
    upgrade(db.engine)
    with db.engine.connect() as c:
        types = dict(c.execute(text("SELECT slug, id FROM head_types")).all())
        # no survivor stored for "answer": the duplicate row becomes the surviving type
        assert "copy-suppression" not in types and "answer" not in types and "correct" in types
        assert types["negative-name-mover"] == nnm
        aliases = {a for (a,) in c.execute(text("SELECT alias FROM head_type_aliases WHERE head_type_id = :i"), {"i": nnm})}
        assert {"CS Head", "Copy Suppression Head", "copy-suppression"} <= aliases
        (source,) = c.execute(text("SELECT source FROM claims")).one()  # the twin claims became one
        assert source == "new source; as Copy Suppression Head: old source"
        assert c.execute(text("SELECT head_type_id FROM paper_head_types")).all() == [(nnm,)]
        assert c.execute(text("SELECT head_type_id FROM head_scores")).one()[0] == nnm
        assert c.execute(text("SELECT head_type_id FROM head_labels")).one()[0] == nnm
    # the packaged taxonomy then merges the rest (answer -> correct) on ingest, and resolves old names
    db.ingest(PAPERS)
    assert db.head_type("answer").slug == "correct"
    assert db.labels("gpt2", head_type="Copy Suppression Head")
    db.engine.dispose()


def test_taxonomy_file_names_every_merge_reason() -> None:
    data = yaml.safe_load(DEFAULT_TAXONOMY.read_text())
    merged = [m for e in data for m in e.get("merged", [])]
    assert len(merged) >= 7 and all(m["reason"] for m in merged)


def test_downgrade_to_0004_and_back_then_ingest_restores_the_catalog(catalog_db: HeadDB) -> None:
    from headdb.db.migrate import downgrade
    from headdb.export import export_tables

    def snapshot() -> dict[str, object]:
        tables = export_tables(catalog_db.engine)
        for row in tables["papers"]:
            row.pop("updated_at")
        return tables

    before = snapshot()
    downgrade(catalog_db.engine, "0004")
    with catalog_db.engine.connect() as c:  # the old schema's venue: the venue, else where it appeared
        venue = c.execute(text("SELECT venue FROM papers WHERE slug = '2019-attention-heads-bert-track-syntactic'")).scalar_one()
        assert venue == "arXiv"
    upgrade(catalog_db.engine)
    report = catalog_db.ingest(PAPERS)
    assert report.papers.updated == len(before["papers"])  # every paper re-synced, filling the new columns
    assert snapshot() == before
