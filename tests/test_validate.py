"""`headdb validate`: the repository's catalog passes; each kind of broken entry fails precisely."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from headdb.catalog.validate import DEFAULT_TAXONOMY, load_catalog
from headdb.cli import main

from conftest import PAPERS, shared_path

IOI = "2023-interpretability-wild-circuit-indirect-object.yaml"
KC = "2024-knowledge-circuits-pretrained-transformers.yaml"


def _edit(papers: Path, name: str, change) -> Path:  # type: ignore[no-untyped-def]
    path = papers / name
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def _problems(papers: Path) -> list[str]:
    return [str(p) for p in load_catalog(papers).problems]


def test_repository_catalog_is_valid() -> None:
    catalog = load_catalog(PAPERS)
    assert catalog.problems == []
    assert len(catalog.papers) >= 68


def test_cli_validate_passes_on_repo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(PAPERS)]) == 0
    assert "ok:" in capsys.readouterr().out


def test_unknown_head_type_names_closest(papers_copy: Path) -> None:
    _edit(papers_copy, IOI, lambda d: d["heads"].__setitem__(0, "Induktion Head"))
    (problem,) = _problems(papers_copy)
    assert IOI in problem and "heads[0]" in problem
    assert "unknown head type 'Induktion Head'" in problem and "'Induction Head'" in problem


def test_unknown_claim_type_names_closest(papers_copy: Path) -> None:
    _edit(papers_copy, IOI, lambda d: d["claims"][0].__setitem__("type", "Name Mover Heads"))
    problems = _problems(papers_copy)
    assert len(problems) == 1
    assert "claims[0].type" in problems[0] and "'Name Mover Head'" in problems[0]


@pytest.mark.parametrize("bad", ["2024-13-01", "28.05.2024", "May 2024", "2024-02-30"])
def test_malformed_date(papers_copy: Path, bad: str) -> None:
    _edit(papers_copy, KC, lambda d: d.__setitem__("date", bad))
    (problem,) = _problems(papers_copy)
    assert f"{KC}: date: malformed date '{bad}'" in problem


def test_duplicate_arxiv_id(papers_copy: Path) -> None:
    kc = yaml.safe_load((papers_copy / KC).read_text())
    _edit(papers_copy, IOI, lambda d: d.__setitem__("arxiv", kc["arxiv"]))
    problems = _problems(papers_copy)
    assert len(problems) == 1
    assert "arxiv" in problems[0] and f"arXiv id {kc['arxiv']}" in problems[0] and "duplicate paper" in problems[0]


def test_duplicate_title_in_new_file(papers_copy: Path) -> None:
    data = yaml.safe_load((papers_copy / KC).read_text())
    data.pop("arxiv")
    data.setdefault("missing", {})["arxiv"] = "a copy for this test"
    data["title"] = data["title"].upper() + "  "  # case and spacing do not make a new paper
    (papers_copy / "2099-copy.yaml").write_text(yaml.safe_dump(data))
    problems = _problems(papers_copy)
    assert len(problems) == 1
    assert "2099-copy.yaml: title: duplicate paper: same title as" in problems[0]


@pytest.mark.parametrize("field", ["title", "date", "published_in", "heads", "links", "summary"])
def test_missing_required_field(papers_copy: Path, field: str) -> None:
    _edit(papers_copy, KC, lambda d: d.pop(field))
    assert _problems(papers_copy) == [f"{papers_copy / KC}: {field}: missing required field"]


def test_missing_summary_part(papers_copy: Path) -> None:
    _edit(papers_copy, KC, lambda d: d["summary"].pop("tasks"))
    assert _problems(papers_copy) == [f"{papers_copy / KC}: summary.tasks: missing required field"]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("12.0", "head 12.0 is outside gpt2 (layers 0-11, heads 0-11)"),
        ("3.12", "head 3.12 is outside gpt2"),
        ("L9H9", "expected 'layer.head' such as '9.6', got 'L9H9'"),
        ("-1.2", "expected 'layer.head'"),
        (9.1, "write layer.head as a quoted string"),
    ],
)
def test_bad_coordinates(papers_copy: Path, head: object, expected: str) -> None:
    _edit(papers_copy, IOI, lambda d: d["claims"][0].__setitem__("head", head))
    (problem,) = _problems(papers_copy)
    assert "claims[0].head" in problem and expected in problem


def test_unknown_model(papers_copy: Path) -> None:
    _edit(papers_copy, IOI, lambda d: d["claims"][0].__setitem__("model", "gpt-2"))
    (problem,) = _problems(papers_copy)
    assert "claims[0].model" in problem and "unknown model 'gpt-2'" in problem and "'gpt2'" in problem


def test_model_alias_is_accepted(papers_copy: Path) -> None:
    _edit(papers_copy, IOI, lambda d: d["claims"][0].__setitem__("model", "GPT-2 small"))
    assert _problems(papers_copy) == []


@pytest.mark.parametrize("where", ["top", "summary", "claim"])
def test_unknown_keys(papers_copy: Path, where: str) -> None:
    def change(d: dict) -> None:  # type: ignore[type-arg]
        target = {"top": d, "summary": d["summary"], "claim": d["claims"][0]}[where]
        target["sumary"] = "typo"

    _edit(papers_copy, IOI, change)
    (problem,) = _problems(papers_copy)
    field = {"top": "sumary", "summary": "summary.sumary", "claim": "claims[0].sumary"}[where]
    assert f": {field}: unknown key" in problem


def test_claim_needs_type_or_role(papers_copy: Path) -> None:
    _edit(papers_copy, IOI, lambda d: d["claims"][0].pop("type"))
    (problem,) = _problems(papers_copy)
    assert "claims[0]: a claim needs a head `type`, a `role`, or both" in problem


def test_invalid_yaml_and_non_mapping(papers_copy: Path) -> None:
    (papers_copy / "2099-broken.yaml").write_text("title: [unclosed\n")
    (papers_copy / "2099-list.yaml").write_text("- a\n- b\n")
    problems = _problems(papers_copy)
    assert any("2099-broken.yaml: line" in p and "not valid YAML" in p for p in problems)
    assert any("2099-list.yaml: expected a mapping" in p for p in problems)


def test_bad_file_name(papers_copy: Path) -> None:
    data = yaml.safe_load((papers_copy / KC).read_text())
    (papers_copy / KC).unlink()
    (papers_copy / "Knowledge Circuits.yaml").write_text(yaml.safe_dump(data))
    (problem,) = _problems(papers_copy)
    assert "file name must be a slug" in problem


def test_all_problems_reported_at_once(papers_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(papers_copy, IOI, lambda d: (d.__setitem__("date", "yesterday"), d.__setitem__("colour", "red")))
    _edit(papers_copy, KC, lambda d: d["heads"].append("Mover Heads!"))
    assert len(_problems(papers_copy)) == 3
    assert main(["validate", str(papers_copy)]) == 1
    err = capsys.readouterr().err
    assert "malformed date 'yesterday'" in err and "colour: unknown key" in err
    assert "unknown head type 'Mover Heads!'" in err and "3 problem(s) found" in err


def test_taxonomy_alias_clash_is_reported(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_TAXONOMY.read_text())
    data[-1]["aliases"] = ["Previous Head"]  # already an alias of previous-token
    taxonomy = tmp_path / "taxonomy.yaml"
    taxonomy.write_text(yaml.safe_dump(data))
    problems = [str(p) for p in load_catalog(PAPERS, taxonomy).problems]
    last = len(data) - 1
    assert problems == [f"{taxonomy}: [{last}].aliases[0]: 'Previous Head' already names head type 'previous-token'"]


def test_taxonomy_covers_survey_taxonomy() -> None:
    names = {row["head_type"] for row in csv.DictReader(shared_path("reference", "survey_taxonomy.csv").open())}
    catalog = load_catalog(PAPERS)
    # A survey type merged into another as a duplicate is known by its surviving type.
    known = {n.casefold() for e in catalog.head_types for n in (e.name, *e.aliases, *(m.name for m in e.merged))}
    stage_of = {n.casefold(): e.stage for e in catalog.head_types for n in (e.name, *e.aliases, *(m.name for m in e.merged))}
    assert {n.casefold() for n in names} <= known
    for row in csv.DictReader(shared_path("reference", "survey_taxonomy.csv").open()):
        assert stage_of[row["head_type"].casefold()] == row["stage"], row["head_type"]
