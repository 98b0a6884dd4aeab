"""Hostile and broken catalog files: each is one problem of its own file, with a short message,
and never a traceback, a hang, a read outside the catalog, or unbounded memory or output.

Cases that could exhaust memory or block on the code they guard against (an alias bomb, a link to
/dev/zero, a FIFO) run `headdb validate` in a child process under a memory limit and a timeout."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from headdb import HeadDB
from headdb.catalog.validate import DEFAULT_MODELS, DEFAULT_TAXONOMY, CatalogError, load_catalog
from headdb.db.models import Claim, HeadTypeAlias, Model, Paper, PaperLink

from conftest import PAPERS, REPO

KC = "2024-knowledge-circuits-pretrained-transformers.yaml"
IOI = "2023-interpretability-wild-circuit-indirect-object.yaml"
CHILD_MEMORY = 1 << 30  # bytes of address space for a child `headdb validate`
CHILD_TIMEOUT = 60


def _entry(papers: Path, name: str = KC) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((papers / name).read_text())


def _write(papers: Path, name: str, data: object) -> Path:
    path = papers / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def _problems(papers: Path, **kwargs: Path) -> list[str]:
    return [str(p) for p in load_catalog(papers, **kwargs).problems]


def _small_catalog(tmp_path: Path) -> Path:
    """A papers directory with two real entries (fast to validate)."""
    papers = tmp_path / "papers"
    papers.mkdir()
    for name in (KC, IOI):
        shutil.copy(PAPERS / name, papers / name)
    return papers


# The child validates once first, so that every lazy import has happened before it may give up
# root (and with it access to an interpreter installed under /root).
_CHILD = """
import os, sys
from headdb.catalog.validate import load_catalog
from headdb.cli import main
load_catalog(sys.argv[1])
if sys.argv[2] == "drop-root":
    os.setgid(65534)
    os.setuid(65534)
sys.exit(main(["validate", sys.argv[1]]))
"""


def _validate_in_child(papers: Path, drop_root: bool = False) -> subprocess.CompletedProcess[str]:
    """`headdb validate papers` in a child process with at most CHILD_MEMORY of address space,
    as an unprivileged user if ``drop_root``."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))

    return subprocess.run(
        [sys.executable, "-c", _CHILD, str(papers), "drop-root" if drop_root else "stay"],
        cwd=REPO, capture_output=True, text=True, timeout=CHILD_TIMEOUT, preexec_fn=limit_memory,
    )


def _assert_clean_failure(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 1
    assert len(result.stderr) < 5000  # the report is short, whatever the input
    for text in expected:
        assert text in result.stderr, result.stderr


# -- YAML itself ---------------------------------------------------------------------------------


def test_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    levels = "abcdefghi"
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    bomb += "".join(f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip(levels, levels[1:]))
    bomb += "title: *i\n"
    assert len(bomb) < 700
    (papers / "2099-bomb.yaml").write_text(bomb)
    result = _validate_in_child(papers)
    _assert_clean_failure(result, "2099-bomb.yaml: line 2, column 8: not valid YAML: YAML aliases (*name) are not allowed")


def test_duplicate_keys_are_errors_naming_key_and_lines(tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    text = (papers / KC).read_text()
    first = 1 + text.splitlines().index(next(line for line in text.splitlines() if line.startswith("title:")))
    (papers / KC).write_text(text + "title: A Different Title\n")
    (problem,) = _problems(papers)
    last = len(text.splitlines()) + 1
    assert f"{KC}: line {last}, column 1: not valid YAML: duplicate key 'title' (first at line {first})" in problem


def test_deep_nesting_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    (papers / "2099-deep.yaml").write_text("title: " + "[" * 5000 + "]" * 5000 + "\n")
    (papers / "2099-deep-map.yaml").write_text("".join("  " * i + f"k{i}:\n" for i in range(600)))
    problems = _problems(papers)
    assert any("2099-deep.yaml" in p and "nested more than 32 levels deep" in p for p in problems)
    assert any("2099-deep-map.yaml" in p and "nested more than 32 levels deep" in p for p in problems)
    assert len(problems) == 2


def test_unquoted_impossible_date_is_a_field_problem(tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    text = (papers / KC).read_text()
    date_line = next(line for line in text.splitlines() if line.startswith("date:"))
    (papers / KC).write_text(text.replace(date_line, "date: 2024-02-30"))
    assert _problems(papers) == [f"{papers / KC}: date: malformed date '2024-02-30': expected YYYY-MM-DD, e.g. 2024-05-28"]


def test_python_and_unknown_tags_are_refused(tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    (papers / "2099-python.yaml").write_text("title: !!python/object/apply:os.system ['echo pwned']\n")
    (papers / "2099-custom.yaml").write_text("title: !include /etc/passwd\n")
    (papers / "2099-binary.yaml").write_text("title: !!binary aGVsbG8=\n")
    problems = _problems(papers)
    assert len(problems) == 3
    assert all("is not allowed in catalog files" in p for p in problems)


def test_integer_too_long_for_python_is_a_problem(tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    (papers / "2099-int.yaml").write_text("title: " + "9" * 5000 + "\n")
    (problem,) = _problems(papers)
    assert "2099-int.yaml: line 1, column 8: not valid YAML: integer with too many digits" in problem


def test_entry_over_the_size_limit_is_refused_with_the_limit(tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    data = _entry(papers)
    data["summary"]["innovation"] = "word " * (4 << 20)  # a valid entry of 20 MiB
    _write(papers, KC, data)
    (problem,) = _problems(papers)
    assert f"{KC}: file is too large (" in problem and "limited to 1 MiB (1,048,576 bytes)" in problem


# -- discovery: links, special files, other spellings, unreadable files -------------------------


def test_symlink_out_of_the_catalog_is_not_followed(tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    outside = tmp_path / "outside.yaml"
    secret = dict(_entry(papers), title="SECRET-VALUE-FROM-OUTSIDE", arxiv="2999.00001", date="bad")
    outside.write_text(yaml.safe_dump(secret))
    (papers / "2099-link.yaml").symlink_to(outside)
    catalog = load_catalog(papers)
    (problem,) = [str(p) for p in catalog.problems]
    assert "2099-link.yaml: is a symbolic link" in problem
    assert "SECRET" not in problem and "bad" not in problem
    assert all(r.entry.title != secret["title"] for r in catalog.papers)


def test_symlink_to_dev_zero_is_not_read(tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    (papers / "2099-zero.yaml").symlink_to("/dev/zero")
    result = _validate_in_child(papers)
    _assert_clean_failure(result, "2099-zero.yaml: is a symbolic link")


def test_directory_and_fifo_named_yaml_are_problems_and_others_still_checked(tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    (papers / "2099-dir.yaml").mkdir()
    os.mkfifo(papers / "2099-fifo.yaml")  # opening it for reading would block
    data = _entry(papers, IOI)
    data["colour"] = "red"
    _write(papers, IOI, data)
    result = _validate_in_child(papers)
    _assert_clean_failure(
        result,
        "2099-dir.yaml: not a regular file (a directory)",
        "2099-fifo.yaml: not a regular file",
        f"{IOI}: colour: unknown key",
        "3 problem(s) found",
    )


@pytest.mark.parametrize("name", ["2099-upper.YAML", "2099-short.yml", "2099-mixed.Yaml"])
def test_other_yaml_spellings_are_reported_not_ignored(tmp_path: Path, name: str) -> None:
    papers = _small_catalog(tmp_path)
    (papers / name).write_text((papers / KC).read_text())
    (problem,) = _problems(papers)
    assert f"{name}: paper entries use the lowercase .yaml extension" in problem


def test_unreadable_file_is_a_problem_and_others_still_checked() -> None:
    # A scratch directory that an unprivileged user can enter (pytest's tmp_path is private).
    root = Path(tempfile.mkdtemp(prefix="headdb-unreadable-"))
    try:
        root.chmod(0o755)
        papers = root / "papers"
        papers.mkdir(mode=0o755)
        for name in (KC, IOI):
            shutil.copy(PAPERS / name, papers / name)
            (papers / name).chmod(0o644)
        data = _entry(papers, IOI)
        data["colour"] = "red"
        _write(papers, IOI, data)
        (papers / KC).chmod(0)
        result = _validate_in_child(papers, drop_root=os.geteuid() == 0)  # root reads anything
        _assert_clean_failure(result, f"{KC}: cannot read file: Permission denied", f"{IOI}: colour: unknown key")
    finally:
        shutil.rmtree(root)


# -- canonical coordinates, duplicates that the database would refuse ---------------------------


def test_equivalent_coordinates_are_one_head(tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    data = _entry(papers, IOI)
    claim = dict(data["claims"][0])
    layer, head = claim["head"].split(".")
    claim["head"] = f"0{layer}.0{head}"
    data["claims"].append(claim)
    _write(papers, IOI, data)
    (problem,) = _problems(papers)
    n = len(data["claims"]) - 1
    assert f"claims[{n}]: duplicate claim for head {int(layer)}.{int(head)}" in problem


def test_padded_coordinate_is_stored_canonically(empty_db: HeadDB, tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    data = _entry(papers, IOI)
    original = data["claims"][0]["head"]
    layer, head = original.split(".")
    data["claims"][0]["head"] = f"00{layer}.0{head}"
    _write(papers, IOI, data)
    empty_db.ingest(papers)
    coordinates = [c.coordinate for c in empty_db.claims(paper=IOI.removesuffix(".yaml"))]
    assert coordinates.count(original) == 1


def test_repeated_link_and_alias_are_caught_before_the_database(db_url: str, tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    data = _entry(papers)
    data["links"].append(data["links"][0])
    _write(papers, KC, data)
    taxonomy = yaml.safe_load(DEFAULT_TAXONOMY.read_text())
    taxonomy[0]["aliases"] = ["Twice Named", "Twice Named"]
    (tmp_path / "taxonomy.yaml").write_text(yaml.safe_dump(taxonomy))
    db = HeadDB(db_url)
    db.upgrade()
    with pytest.raises(CatalogError) as excinfo:
        db.ingest(papers, tmp_path / "taxonomy.yaml")
    messages = [str(p) for p in excinfo.value.problems]
    assert any("links[" in m and "link listed twice" in m for m in messages)
    assert any("[0].aliases[1]: alias 'Twice Named' listed twice" in m for m in messages)
    assert db.papers() == []
    db.engine.dispose()


# -- database column limits ----------------------------------------------------------------------

_LIMIT_CASES = [
    ("paper", "title", Paper.title, lambda d, v: d.__setitem__("title", v)),
    ("paper", "venue", Paper.venue, lambda d, v: d.__setitem__("venue", v)),
    ("paper", "published_in", Paper.published_in, lambda d, v: d.__setitem__("published_in", v)),
    ("paper", "links[0]", PaperLink.url, lambda d, v: d["links"].__setitem__(0, "https://" + v)),
    ("paper", "claims[0].role", Claim.role, lambda d, v: d["claims"][0].__setitem__("role", v)),
    ("taxonomy", "[0].aliases[0]", HeadTypeAlias.alias, lambda d, v: d[0].__setitem__("aliases", [v])),
    ("models", "[0].name", Model.name, lambda d, v: d[0].__setitem__("name", v)),
]


@pytest.mark.parametrize(("kind", "field", "column", "change"), _LIMIT_CASES, ids=[c[1] for c in _LIMIT_CASES])
def test_string_longer_than_its_column_is_reported(tmp_path: Path, kind: str, field: str, column, change) -> None:  # type: ignore[no-untyped-def]
    limit = column.property.columns[0].type.length  # the ORM's own number
    papers = _small_catalog(tmp_path)
    value = "x" * (limit + 1 - (len("https://") if field.startswith("links") else 0))
    files = {"paper": papers / IOI, "taxonomy": tmp_path / "taxonomy.yaml", "models": tmp_path / "models.yaml"}
    source = {"paper": papers / IOI, "taxonomy": DEFAULT_TAXONOMY, "models": DEFAULT_MODELS}[kind]
    data = yaml.safe_load(source.read_text())
    change(data, value)
    files[kind].write_text(yaml.safe_dump(data))
    kwargs = {"taxonomy_path": files["taxonomy"]} if kind == "taxonomy" else {}
    kwargs = {"models_path": files["models"]} if kind == "models" else kwargs
    problems = _problems(papers, **kwargs)
    expected = f"{files[kind]}: {field}: too long: {limit + 1} characters, but the database holds at most {limit}"
    assert expected in problems, problems


def test_too_long_title_writes_nothing_on_any_backend(catalog_db: HeadDB, tmp_path: Path) -> None:
    before = [p.title for p in catalog_db.papers()]
    papers = _small_catalog(tmp_path)
    data = _entry(papers)
    data["title"] = "T" * 600
    _write(papers, KC, data)
    with pytest.raises(CatalogError, match="too long: 600 characters"):
        catalog_db.ingest(papers)
    assert [p.title for p in catalog_db.papers()] == before


# -- control characters, bounded messages, the per-file error path -------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "Knowledge \x1b[31mCircuits", "control character '\\x1b' at position 10 is not allowed"),
        ("title", "Knowledge\nCircuits", "line break or tab '\\n' at position 9 is not allowed"),
        ("venue", "ICLR\u202e 2024", "control character '\\u202e'"),
        ("summary.innovation", "bell \x07 here", "control character '\\x07'"),
    ],
)
def test_control_characters_are_rejected(tmp_path: Path, field: str, value: str, message: str) -> None:
    papers = _small_catalog(tmp_path)
    data = _entry(papers)
    target, key = (data["summary"], "innovation") if field.startswith("summary") else (data, field)
    target[key] = value
    _write(papers, KC, data)
    (problem,) = _problems(papers)
    assert f"{KC}: {field}: {message}" in problem
    assert "\x1b" not in problem and "\x07" not in problem and "\u202e" not in problem


def test_free_text_keeps_line_breaks_and_tabs(tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    data = _entry(papers)
    data["summary"]["innovation"] = "First line.\n\tSecond line."
    _write(papers, KC, data)
    assert _problems(papers) == []


def test_messages_never_repeat_unbounded_input(tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    data = _entry(papers)
    data["title"] = ["word " * 50] * 2_000  # a list where a string belongs: echoed in the error
    data["k" * 50_000] = "an unknown key of 50,000 characters"
    _write(papers, KC, data)
    problems = _problems(papers)
    assert len(problems) == 2
    assert max(len(p) for p in problems) < 600
    assert any(f"{KC}: title: Input should be a valid string (got ['word" in p for p in problems)
    assert any(f"{KC}: kkkkkkkk" in p and "…: unknown key" in p for p in problems)


def test_problems_of_one_file_are_capped(tmp_path: Path) -> None:
    papers = _small_catalog(tmp_path)
    data = _entry(papers)
    data["heads"] = [f"Unknown Head {i}" for i in range(500)]
    _write(papers, KC, data)
    problems = _problems(papers)
    assert len(problems) == 26
    assert problems[-1] == f"{papers / KC}: ... and 475 more problem(s) in this file"


def test_unexpected_error_in_one_file_is_its_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import headdb.catalog.validate as validate

    papers = _small_catalog(tmp_path)
    data = _entry(papers, IOI)
    data["colour"] = "red"
    _write(papers, IOI, data)
    real = validate._check_paper

    def failing(path: Path, *args: object):  # type: ignore[no-untyped-def]
        if path.name == KC:
            raise RuntimeError("boom\x1b[2J" + "!" * 10_000)
        return real(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(validate, "_check_paper", failing)
    unexpected, unknown_key = sorted(_problems(papers), key=lambda p: IOI in p)
    assert f"{KC}: could not be checked: unexpected RuntimeError (boom\\x1b[2J!!!" in unexpected
    assert len(unexpected) < 400 and "\x1b" not in unexpected
    assert f"{IOI}: colour: unknown key" in unknown_key
