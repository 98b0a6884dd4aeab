"""Page renderers and the SVG heatmap, without a database."""

from __future__ import annotations

import datetime as dt

from headdb.agreement import AGREE, MISSED, AgreementRow
from headdb.results import ClaimInfo, HeadTypeInfo, ModelInfo, PaperInfo
from headdb.site import render
from headdb.site.escape import md_text, slugify
from headdb.site.heatmap import heatmap_svg

HOSTILE = '<script>alert("x")</script> **bold** [link](http://evil.example) `code` # heading | pipe'


def _paper(**changes) -> PaperInfo:  # type: ignore[no-untyped-def]
    base = dict(
        slug="2024-example", title="Successor Heads Example", date=dt.date(2024, 1, 16), date_precision="day",
        venue="ICLR 2024",
        arxiv_id="2312.09230", authors=("Rhys Gould", "Arthur Conmy"), head_types=("successor",),
        links=("https://openreview.net/forum?id=kvcbV8KQsi",), innovation="New thing.", tasks="Tasks.",
        significant_result="Result.", n_claims=0,
    )
    base.update(changes)
    return PaperInfo(**base)  # type: ignore[arg-type]


def test_md_text_neutralises_markup() -> None:
    text = md_text(HOSTILE)
    assert "<script>" not in text and "&lt;script&gt;" in text
    for raw in ("**", "[link]", "`code`"):
        assert raw not in text
    assert "\\| pipe" in text and "\\# heading" in text
    assert md_text("a\nb") == "a b"


def test_paper_page_follows_survey_template() -> None:
    page = render.paper_page(_paper(), [], {"successor": "Successor Head"})
    for field in ("**Title:**", "**Head:**", "**First public version:**", "**Innovation:**", "**Tasks:**", "**Significant Result:**"):
        assert field in page
    assert "[Successor Head](../taxonomy/successor.md)" in page
    assert "@inproceedings{gould2024successor," in page and "eprint = {2312.09230}" in page
    assert "This paper's entry records no specific heads." in page


def test_paper_page_escapes_contributed_text() -> None:
    page = render.paper_page(_paper(title=HOSTILE, innovation=HOSTILE), [], {})
    assert "<script>" not in page
    assert page.count("&lt;script&gt;") >= 3  # front matter, heading, title line, summary, bibtex


def test_dates_show_only_what_is_known() -> None:
    assert _paper(date=dt.date(2023, 1, 1), date_precision="year").date_text == "2023"
    page = render.papers_index([_paper(date=dt.date(2023, 4, 1), date_precision="month")], {})
    assert "| 2023-04 |" in page


def test_claims_table_links_models_and_types() -> None:
    claim = ClaimInfo("gpt2", 9, 1, "successor", "Successor Head", None, "next-day head", "2024-example",
                      "Successor Heads Example", "LessWrong post", "medium")
    page = render.paper_page(_paper(), [claim], {"successor": "Successor Head"})
    assert "| [gpt2](../models/gpt2.md) | 9.1 | [Successor Head](../taxonomy/successor.md) |" in page


def test_head_type_page_lists_papers_and_says_when_nothing_is_known() -> None:
    ht = HeadTypeInfo("successor", "Successor Head", "LR", "Latent Reasoning", "ordinal", ("Succ",), ("gpt",), "Increments.")
    page = render.head_type_page(ht, [_paper()], [], [])
    assert "**Stage:** Latent Reasoning (LR)" in page and "[Successor Heads Example](../papers/2024-example.md)" in page
    assert "No head of any catalogued model has been claimed or detected as this type yet." in page


def test_agreement_page_without_runs_says_so() -> None:
    rows = [AgreementRow("gpt2", "name-mover", 9, 9, "not-scored", None, None, ("ioi",))]
    page = render.agreement_page({"gpt2": rows}, set(), {})
    assert "No detector has been run yet." in page and "| head type |" not in page


def test_agreement_page_with_runs() -> None:
    rows = [
        AgreementRow("m", "induction", 1, 0, AGREE, 0.99, 1, ("p",)),
        AgreementRow("m", "induction", 2, 3, MISSED, 0.01, 7, ("p",)),
    ]
    page = render.agreement_page({"m": rows}, {"m"}, {"induction": "Induction Head"})
    assert "agree: 1, claimed, not detected: 1" in page and "| 2.3 | yes | no | claimed, not detected | 0.010 | 7 |" in page


def test_model_page_without_runs() -> None:
    model = ModelInfo("gpt2", "gpt2", "openai-community/gpt2", "GPT2LMHeadModel", 12, 12, None, 768, 64, 50257, None, None)
    page = render.model_page(model, [], [], {})
    assert "No detector has been run on this model yet" in page and "| layers | 12 |" in page


def test_heatmap_is_readable_without_colour() -> None:
    svg = heatmap_svg([[0.1, 0.9], [0.5, float("nan")]], "Induction Head: m", {(0, 1)})
    assert svg.startswith("<svg") and "<title>Induction Head: m</title>" in svg
    assert ">0.90</text>" in svg and ">0.10</text>" in svg  # values are printed
    assert ">layer</text>" in svg and ">head</text>" in svg  # axes are named
    assert svg.count('stroke-dasharray="5 2"') == 1  # the labelled head is outlined
    assert "1.00</text>" in svg and "0.00</text>" in svg  # colour bar ends
    assert "<script" not in heatmap_svg([[0.0]], HOSTILE)


def test_slugify_model_names() -> None:
    assert slugify("EleutherAI/pythia-1.4b") == "eleutherai-pythia-1-4b"
