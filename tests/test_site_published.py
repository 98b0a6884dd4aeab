"""Published per-head data on the site: heatmaps for real models with their sources, the
published-data page, published labels on the agreement page, and the static JSON API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headdb import HeadDB
from headdb.agreement import AGREE, AgreementRow
from headdb.results import ModelInfo, PublishedInfo
from headdb.site import catalog_pages
from headdb.site.build import build_site

pytestmark = pytest.mark.slow

RETRIEVAL_MODELS = ["Llama-2-7B-80K", "Llama-2-13B-64K", "Mistral-7B-v0.2", "Mixtral-8x7B-v0.1", "Qwen1.5-14B",
                    "Qwen1.5-14B-Chat", "Yi-6B-200K"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[HeadDB, Path]:
    from conftest import PAPERS

    root = tmp_path_factory.mktemp("published-site")
    db = HeadDB(f"sqlite:///{root / 'p.sqlite'}")
    db.upgrade()
    db.ingest(PAPERS)
    return db, build_site(db, root / "out", staging=root / "src")


def test_real_models_have_published_heatmaps_with_sources(site) -> None:  # type: ignore[no-untyped-def]
    db, out = site
    with_heatmaps = []
    for model in db.models():
        datasets = db.published(model=model.name)
        if not datasets:
            continue
        page = (out / "models" / catalog_pages.model_slug(model.name) / "index.html").read_text()
        for d in datasets:
            svg = out / "models" / catalog_pages.model_slug(model.name) / catalog_pages.image_name(d)
            assert svg.is_file() and svg.read_text().startswith("<svg")
            assert d.path.split("/")[-1] in page and d.commit[:10] in page
        assert "not computed by headdb" in page
        with_heatmaps.append(model.name)
    assert set(RETRIEVAL_MODELS) <= set(with_heatmaps) and len(with_heatmaps) >= 9  # + gpt2, gpt2-medium circuits


def test_published_page_and_agreement(site) -> None:  # type: ignore[no-untyped-def]
    _, out = site
    index = (out / "published" / "index.html").read_text()
    assert "Retrieval_Head" in index and "KnowledgeCircuits" in index
    agreement = (out / "agreement" / "index.html").read_text()
    assert "Claims vs. published labels" in agreement and "claimed, published label" in agreement


def test_static_json_api(site) -> None:  # type: ignore[no-untyped-def]
    db, out = site
    index = json.loads((out / "api" / "index.json").read_text())
    assert index["format"] == "headdb-api" and index["version"] == 1
    assert len(index["papers"]) == len(db.papers()) and len(index["head_types"]) == len(db.head_types())
    for kind in ("papers", "models", "head_types", "published"):
        for entry in index[kind]:
            assert (out / "api" / entry["file"]).is_file(), entry
    llama = json.loads((out / "api" / "models" / "llama-2-7b-80k.json").read_text())
    (dataset,) = llama["published"]
    assert len(dataset["values"]) == 32 * 32 and dataset["published_labels"][0] == "16.19"
    paper = json.loads((out / "api" / "papers" / "2024-knowledge-circuits-pretrained-transformers.json").read_text())
    assert paper["bibtex"].startswith("@inproceedings{yao2024knowledge") and any(c["conflict"] for c in paper["claims"])


HOSTILE = '<script>alert(1)</script> [x](javascript:alert(1)) | **b** `c`'


def test_hostile_strings_render_as_text() -> None:
    d = PublishedInfo(
        slug="p/x", paper="p", paper_title=HOSTILE, model=HOSTILE, head_type="retrieval", kind="scores", title=HOSTILE,
        quantity=HOSTILE, repository="https://example.org/r", path="a b/<c>.json", commit="0123456789abcdef",
        derivation=HOSTILE, derived_by=None, n_samples=3, threshold=0.1, threshold_op=">", threshold_source=HOSTILE,
        note=HOSTILE, n_layers=1, n_heads=2, values={"0.0": 0.5, "0.1": 0.0}, roles={"0.0": HOSTILE},
    )
    model = ModelInfo(name=HOSTILE, family=None, source=None, architecture=None, n_layers=1, n_heads=2, n_kv_heads=None,
                      d_model=None, d_head=None, d_vocab=None, weights_fingerprint=None, revision="")
    rows = {HOSTILE: [AgreementRow(HOSTILE, "retrieval", 0, 0, AGREE, 0.5, 1, ("p",), basis="published", dataset="p/x")]}
    for text in (catalog_pages.model_section(model, [d], {}), catalog_pages.published_index([d], {}),
                 catalog_pages.published_agreement_section(rows, {})):
        assert "<script>" not in text and "](javascript:" not in text
        assert "&lt;script&gt;" in text
    assert "a%20b/%3Cc%3E.json" in catalog_pages.source_link(d)
    written: dict[str, str] = {}
    catalog_pages.write_model_heatmaps(lambda path, content: written.__setitem__(path, content), model, [d], {})
    (svg,) = written.values()
    assert "<script>" not in svg
