"""Heads across training on the site, and model pages: one page per model (its revisions
grouped), slugs that never put two models on one page, the Training section."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headdb import HeadDB
from headdb.db.models import model_name_key
from headdb.queries.training import first_label_steps
from headdb.results import Training, TrainingPoint
from headdb.site.build import build_site
from headdb.site.escape import model_slug
from headdb.site.training import small_multiples_svg, training_page

from synthetic import add_results

HOSTILE = '<script>alert(1)</script>"&'


def test_first_and_stable_steps() -> None:
    assert first_label_steps([(1, False), (2, True), (3, True)]) == (2, 2, 2)
    assert first_label_steps([(1, True), (2, False), (3, True)]) == (1, 3, 2)  # comes back: stable later
    assert first_label_steps([(1, False), (2, True), (3, False)]) == (2, None, 1)  # not at the end
    assert first_label_steps([(1, False), (2, False)]) == (None, None, 0)
    assert first_label_steps([]) == (None, None, 0)


def test_model_slugs_group_one_model_and_separate_others() -> None:
    assert model_slug("Headdb_Planted") == model_slug("headdb-planted") == "headdb-planted"
    assert model_slug("a/b") != model_slug("a-b")
    assert model_slug("EleutherAI/pythia-1.4b") == "eleutherai--pythia-1.4b"
    assert model_slug("pythia-1.4b") != model_slug("pythia-1-4b")
    assert model_slug("a/-b") != model_slug("a-/b") and "_" in model_slug("a/-b")
    assert model_slug("x") != model_slug("x@y")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aB1./-_ @é", min_size=1, max_size=8), st.text(alphabet="aB1./-_ @é", min_size=1, max_size=8))
def test_two_names_share_a_slug_only_if_they_are_one_model(a: str, b: str) -> None:
    if not (model_name_key(a) and model_name_key(b)):
        return
    assert (model_slug(a) == model_slug(b)) == (model_name_key(a) == model_name_key(b))


def _training(points: list[tuple[int, int, int, float, bool]]) -> Training:
    from headdb.queries.training import first_labels

    tps = [TrainingPoint("m", f"step{s}", s, "induction", l, h, v, lab, "induction", 1) for s, l, h, v, lab in points]
    tps.sort(key=lambda p: (p.head_type, p.layer, p.head, p.step))
    return Training("m", tps, first_labels("m", tps))


def test_small_multiples_panels_and_highlights() -> None:
    training = _training([
        (100, 0, 0, 0.1, False), (200, 0, 0, 0.9, True),  # labelled at the end: solid frame
        (100, 0, 1, 0.7, True), (200, 0, 1, 0.2, False),  # labelled only earlier: dashed frame
        (100, 1, 0, 0.1, False), (200, 1, 0, 0.2, False),
    ])
    svg = small_multiples_svg(list(training), 2, 2, f"Induction over training: {HOSTILE}")
    assert svg.startswith("<svg") and "<script" not in svg
    assert svg.count("<polyline") == 3 and svg.count("<circle") == 2
    assert svg.count('stroke="#e4007c" stroke-width="2.5"') == 1
    assert svg.count('stroke-dasharray="4 2"') == 1
    assert "head 0.0: 100: 0.10, 200: 0.90 (labelled)" in svg and ">layer</text>" in svg
    assert "training step 100 to 200" in svg


def test_training_page_tables() -> None:
    training = _training([(100, 0, 0, 0.1, False), (200, 0, 0, 0.9, True), (100, 0, 1, 0.7, True), (200, 0, 1, 0.2, False)])
    page = training_page(HOSTILE, training, {"induction": "x/induction.svg"}, {"induction": "Induction Head"},
                         [("step100", 100), ("step200", 200)], "../models/x.md")
    assert "<script" not in page
    assert "| 0.1 | 100 | not at the end | 1 of 2 steps | 0.200 |" in page
    assert "| 0.0 | 200 | 200 | 1 of 2 steps | 0.900 |" in page
    assert "![Induction Head scores of" in page and "(x/induction.svg)" in page


@pytest.mark.slow
def test_site_groups_revisions_and_builds_training_pages(tmp_path: Path) -> None:
    db = HeadDB(f"sqlite:///{tmp_path / 'site.sqlite'}")
    db.upgrade()
    db.ingest()
    for step, grid in ((100, [[0.1, 0.2], [0.1, 0.3]]), (200, [[0.2, 0.2], [0.6, 0.3]]), (300, [[0.3, 0.1], [0.9, 0.7]])):
        add_results(db, "Org/Toy-LM", {"induction": grid, "previous-token": [[0.9, 0.1], [0.1, 0.1]]},
                    revision=f"step{step}", step=step)
    add_results(db, "org/toy_lm", {"induction": [[0.1, 0.1], [0.95, 0.8]]})  # the same model, as published
    add_results(db, "a/b", {"induction": [[0.9]]})
    add_results(db, "a-b", {"induction": [[0.1]]})
    site = build_site(db, tmp_path / "out", staging=tmp_path / "src")
    docs = tmp_path / "src" / "docs"

    model = (docs / "models" / "org--toy-lm.md").read_text()
    assert "## Revisions (4)" in model and "as published (shown below)" in model
    assert "[heads across training](../training/org--toy-lm.md)" in model
    assert (docs / "models" / "a--b.md").is_file() and (docs / "models" / "a-b.md").is_file()
    assert "| 0.0 | 0.900 |" in (docs / "models" / "a--b.md").read_text()  # each page shows its own model

    page = (docs / "training" / "org--toy-lm.md").read_text()
    assert "at 3 training steps (100 to 300" in page
    assert "| 1.0 | 200 | 200 | 2 of 3 steps | 0.900 |" in page and "| 1.1 | 300 | 300 | 1 of 3 steps | 0.700 |" in page
    assert (docs / "training" / "org--toy-lm" / "induction.svg").read_text().count("<polyline") == 4
    index = (docs / "training" / "index.md").read_text()
    assert "(org--toy-lm.md) | [model page](../models/org--toy-lm.md) | 3 | 100 to 300 | induction: 200" in index
    assert (site / "training" / "org--toy-lm" / "index.html").is_file()
    assert 'href="training/"' in (site / "index.html").read_text()  # in the navigation
