"""The Python query API answers the catalog's questions with typed records."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from headdb import HeadDB, PaperInfo, UnknownNameError
from headdb.db.migrate import SchemaNotReadyError


def test_which_papers_discuss_successor_heads(catalog_db: HeadDB) -> None:
    papers = catalog_db.papers(head_type="successor")
    titles = [p.title for p in papers]
    assert "Successor Heads: Recurring, Interpretable Attention Heads In The Wild" in titles
    assert all(isinstance(p, PaperInfo) and "successor" in p.head_types for p in papers)
    assert [p.date for p in papers] == sorted((p.date for p in papers), reverse=True)
    # any spelling of the type finds the same papers
    assert catalog_db.papers(head_type="Successor Head") == papers


def test_which_head_types_are_in_latent_reasoning(catalog_db: HeadDB) -> None:
    by_code = catalog_db.head_types(stage="LR")
    by_name = catalog_db.head_types(stage="latent reasoning")
    assert by_code == by_name
    slugs = {h.slug for h in by_code}
    assert {"induction", "successor", "s-inhibition", "function-vector", "iteration"} <= slugs
    assert all(h.stage == "LR" and h.stage_name == "Latent Reasoning" for h in by_code)
    assert "name-mover" not in slugs


def test_gpt2_name_movers_and_their_paper(catalog_db: HeadDB) -> None:
    claims = catalog_db.claims(model="gpt2", head_type="name mover")
    assert {c.coordinate for c in claims} == {"9.9", "9.6", "10.0"}
    assert {c.paper_title for c in claims} == {
        "Interpretability in the Wild: a Circuit for Indirect Object Identification in GPT-2 small"
    }


def test_aliases_resolve(catalog_db: HeadDB) -> None:
    assert catalog_db.head_type("Previous Head").slug == "previous-token"
    assert catalog_db.head_type("Inhibition Head").slug == "s-inhibition"
    syllogism = catalog_db.papers(head_type="s-inhibition")
    assert any("Syllogistic" in p.title for p in syllogism)


def test_filters_by_year_venue_and_text(catalog_db: HeadDB) -> None:
    p2023 = catalog_db.papers(year=2023)
    assert p2023 and all(p.date.year == 2023 for p in p2023)
    iclr = catalog_db.papers(venue="iclr")
    assert iclr and all("ICLR" in p.where for p in iclr)
    preprints = catalog_db.papers(venue="arxiv")  # where the first version appeared counts too
    assert preprints and all("arXiv" in p.published_in or "arXiv" in (p.venue or "") for p in preprints)
    text = catalog_db.papers(text="acronym")
    assert any("Acronyms" in p.title for p in text)
    both = catalog_db.papers(head_type="induction", year=2024, venue="ICML")
    assert [p.title for p in both] == [
        "How Transformers Learn Causal Structure with Gradient Descent",
        "In-Context Language Learning: Architectures and Algorithms",
    ]  # "What needs to go right ..." claims ICML 2024 only on its OpenReview page, which was not confirmed


def test_to_frame(catalog_db: HeadDB) -> None:
    frame = catalog_db.papers(head_type="induction").to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert {"title", "date", "venue", "head_types"} <= set(frame.columns)
    assert len(frame) == len(catalog_db.papers(head_type="induction"))
    empty = catalog_db.labels("gpt2").to_frame()
    assert list(empty.columns)[:3] == ["model", "layer", "head"] and len(empty) == 0


def test_claims_without_type_carry_role(catalog_db: HeadDB) -> None:
    greater = catalog_db.claims(paper="2023-gpt-2-compute-greater-than")
    assert len(greater) == 7
    assert all(c.head_type is None and c.role and "greater-than" in c.role for c in greater)


def test_labels_empty_until_detectors_run(catalog_db: HeadDB) -> None:
    assert catalog_db.labels("gpt2") == []
    assert catalog_db.runs("gpt2") == []
    with pytest.raises(LookupError, match="no detector scores"):
        catalog_db.scores("gpt2", "induction")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda db: db.papers(head_type="inducton"), "unknown head type 'inducton'; closest known: 'Induction'"),
        (lambda db: db.head_types(stage="Reasoning"), "unknown stage 'Reasoning'"),
        (lambda db: db.claims(model="gpt-2"), "unknown model 'gpt-2'; closest known: 'gpt2'"),
        (lambda db: db.paper("Knowledge Circuits"), "unknown paper 'Knowledge Circuits'"),
    ],
)
def test_unknown_names_raise_clear_errors(catalog_db: HeadDB, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownNameError, match=message.replace("(", r"\(").replace("?", r"\?")):
        call(catalog_db)


def test_url_from_environment(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'env.sqlite'}"
    monkeypatch.setenv("HEADDB_URL", url)
    db = HeadDB()
    assert db.url == url
    with pytest.raises(SchemaNotReadyError, match="has no headdb schema; run `headdb db upgrade`"):
        db.papers()


def test_paper_lookup_by_arxiv_id(catalog_db: HeadDB) -> None:
    paper = catalog_db.paper("2405.17969")
    assert paper.title == "Knowledge Circuits in Pretrained Transformers"
    assert paper.date == dt.date(2024, 5, 28)
    assert paper.venue == "NeurIPS 2024"
    assert paper.n_claims == 11  # six from the reference claims, five from the seeds
