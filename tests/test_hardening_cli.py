"""The command line under bad arguments and a bad environment: one line `error: ...` and a
documented exit code, never a traceback; query arguments mean what they say; control characters
reach neither the terminal nor the HTML; `site build` never deletes what headdb did not write."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import event, text
from sqlalchemy.pool import Pool

from headdb import HeadDB
from headdb.cli import main

from conftest import PAPERS

KC = "2024-knowledge-circuits-pretrained-transformers"
IOI = "2023-interpretability-wild-circuit-indirect-object"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``headdb *argv`` (argparse's exits included)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code  # type: ignore[assignment]
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_one_line_error(err: str, *expected: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for part in expected:
        assert part in err, err


def _small_papers(tmp_path: Path) -> Path:
    papers = tmp_path / "papers"
    papers.mkdir()
    for slug in (KC, IOI):
        shutil.copy(PAPERS / f"{slug}.yaml", papers / f"{slug}.yaml")
    return papers


@pytest.fixture
def small_db(tmp_path: Path) -> HeadDB:
    """A SQLite database holding two papers (quick to build a site from)."""
    db = HeadDB(f"sqlite:///{tmp_path / 'small.sqlite'}")
    db.upgrade()
    db.ingest(_small_papers(tmp_path))
    return db


# -- query arguments -----------------------------------------------------------------------------


def test_like_wildcards_match_only_themselves(empty_db: HeadDB, papers_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = papers_copy / f"{KC}.yaml"
    data = yaml.safe_load(path.read_text())
    data["venue"] = "Work_shop 100% 2024"
    path.write_text(yaml.safe_dump(data))
    empty_db.ingest(papers_copy)
    assert [p.slug for p in empty_db.papers(venue="_")] == [KC]
    assert [p.slug for p in empty_db.papers(venue="%")] == [KC]
    assert empty_db.papers(venue="Work%shop") == []
    everything = empty_db.papers()
    for needle in ("%", "_", "\\"):
        hits = empty_db.papers(text=needle)
        assert len(hits) < len(everything)
        assert all(needle in p.title + p.innovation + p.tasks + p.significant_result for p in hits)
    assert len(empty_db.papers(venue="iclr")) > 1  # still a case-insensitive substring search
    code, out, _ = _cli(capsys, "--url", empty_db.url, "papers", "--venue", "_", "--json")
    assert code == 0 and [r["slug"] for r in json.loads(out)] == [KC]


@pytest.mark.parametrize("year", ["0", "-5", "99999", "twenty"])
def test_implausible_year_is_a_usage_error(year: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _cli(capsys, "--url", f"sqlite:///{tmp_path / 'x.sqlite'}", "papers", "--year", year)
    assert code == 2
    _assert_one_line_error(err, "argument --year:")


def test_implausible_year_in_python_is_a_clean_error(catalog_db: HeadDB) -> None:
    from headdb.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="year 0 is out of range"):
        catalog_db.papers(year=0)


@pytest.mark.parametrize("flag", ["--text", "--venue"])
def test_very_long_search_text_is_a_usage_error(flag: str, catalog_db: HeadDB, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "--url", catalog_db.url, "papers", flag, "x" * 1_000_000)
    assert code == 2
    _assert_one_line_error(err, f"argument {flag}: the value is too long: 1,000,000 characters, at most 500")
    assert len(err) < 300


@pytest.mark.parametrize(
    "argv",
    [
        ["papers", "--text", "a\x00b"],
        ["papers", "--venue", "\x00"],
        ["papers", "--head-type", "induction\x00"],
        ["claims", "--model", "gpt2\x00"],
        ["claims", "--paper", "x\x00y"],
        ["heads", "gpt2\x00"],
        ["validate", "papers\x00"],
    ],
    ids=lambda argv: argv[0] + " " + argv[1],
)
def test_nul_byte_in_an_argument_is_a_usage_error(argv: list[str], catalog_db: HeadDB, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "--url", catalog_db.url, *argv)
    assert code == 2
    _assert_one_line_error(err, "'\\x00'")
    assert "\x00" not in err


def test_control_characters_in_arguments_never_reach_the_terminal(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _cli(capsys, "--url", f"sqlite:///{tmp_path / 'x.sqlite'}", "claims", "--head-type", "\x1b[2J\x1b]0;pwned\x07")
    assert code == 2
    _assert_one_line_error(err, "argument --head-type: the control character '\\x1b' is not allowed")
    assert "\x1b" not in err and "\x07" not in err


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_batch_size_must_be_a_positive_integer(value: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = _cli(capsys, "--url", f"sqlite:///{tmp_path / 'x.sqlite'}", "detect", str(tmp_path / "no-model"), "--batch-size", value)
    assert code == 2
    _assert_one_line_error(err, "argument --batch-size: expected a positive whole number")


def test_unknown_migration_revision_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    assert _cli(capsys, "--url", url, "db", "upgrade")[0] == 0
    code, _, err = _cli(capsys, "--url", url, "db", "downgrade", "no-such-revision")
    assert code == 1
    _assert_one_line_error(err, "cannot downgrade to 'no-such-revision'")


@pytest.mark.parametrize("port", ["-1", "99999", "http"])
def test_port_out_of_range_is_a_usage_error(port: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "--url", f"sqlite:///{tmp_path / 'x.sqlite'}", "site", "serve", "--port", port)
    assert code == 2
    _assert_one_line_error(err, "argument --port: expected a port number from 0 to 65535")


# -- the environment: database URL, server, read-only and full databases, file system -------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "bad database URL"),
        ("nosuchdialect://user:hunter2@host/db", "bad database URL"),
        ("postgresql+nosuchdriver://user:hunter2@host/db", "bad database URL"),
        ("sqlite:////nonexistent-headdb-dir/sub/x.sqlite", "cannot open the SQLite database file"),
    ],
)
def test_bad_database_url_is_one_line(url: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "--url", url, "papers")
    assert code == 3
    _assert_one_line_error(err, expected)
    assert "hunter2" not in err


def test_file_that_is_not_a_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "junk.sqlite").write_bytes(b"this is not a database, " * 100)
    code, _, err = _cli(capsys, "--url", f"sqlite:///{tmp_path / 'junk.sqlite'}", "papers")
    assert code == 3
    _assert_one_line_error(err, "not an SQLite database")


def test_unreachable_server_is_one_line_and_quick(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    code, _, err = _cli(capsys, "--url", "postgresql+psycopg://headdb:hunter2@127.0.0.1:1/headdb", "papers")
    assert code == 3
    _assert_one_line_error(err, "cannot connect to the database server")
    assert "hunter2" not in err
    assert time.monotonic() - started < 20


def test_read_only_database_is_one_line_and_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ro.sqlite"
    HeadDB(f"sqlite:///{path}").upgrade()
    before = path.read_bytes()
    code, _, err = _cli(capsys, "--url", f"sqlite:///file:{path}?mode=ro&uri=true", "ingest", str(PAPERS))
    assert code == 3
    _assert_one_line_error(err, "the database is read-only")
    assert path.read_bytes() == before


def test_full_database_is_one_line_and_keeps_what_was_stored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """SQLite reports a full disk as SQLITE_FULL; a page limit produces exactly that error."""
    db = HeadDB(f"sqlite:///{tmp_path / 'full.sqlite'}")
    db.upgrade()
    db.ingest(_small_papers(tmp_path))
    stored = [p.slug for p in db.papers()]
    db.engine.dispose()

    def no_room_to_grow(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages + 1}")
        cursor.close()

    event.listen(Pool, "connect", no_room_to_grow)
    try:
        code, _, err = _cli(capsys, "--url", db.url, "ingest", str(PAPERS))
    finally:
        event.remove(Pool, "connect", no_room_to_grow)
    assert code == 3
    _assert_one_line_error(err, "the disk holding the database is full", "database or disk is full")
    assert [p.slug for p in HeadDB(db.url).papers()] == stored


def test_file_system_error_is_one_line(small_db: HeadDB, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "--url", small_db.url, "site", "build", "--no-strict", "--out", "/proc/headdb-site")
    assert code == 4
    _assert_one_line_error(err)


@pytest.fixture
def tiny_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 12 MiB tmpfs (needs root and mount; skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("needs root and a mountable tmpfs to fill a disk")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_disk_full_during_site_build_is_one_line_and_keeps_the_old_site(small_db: HeadDB, tiny_disk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tiny_disk / "site"
    assert _cli(capsys, "--url", small_db.url, "site", "build", "--no-strict", "--out", str(out))[0] == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    free = shutil.disk_usage(tiny_disk).free
    (tiny_disk / "filler").write_bytes(b"\0" * (free - 512 * 1024))  # leave half a MiB
    code, _, err = _cli(capsys, "--url", small_db.url, "site", "build", "--no-strict", "--out", str(out))
    assert code == 4
    _assert_one_line_error(err, "No space left on device")
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler", "site"]


def test_exit_codes_are_documented_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "--help")
    assert code == 0
    epilog = out[out.index("exit codes:"):]
    for number in ("0", "1", "2", "3", "4", "130"):
        assert f"\n  {number} " in epilog


def test_user_facing_errors_share_one_base() -> None:
    from headdb.api import UnknownNameError
    from headdb.catalog.ingest import IngestConflictError
    from headdb.catalog.validate import CatalogError
    from headdb.cli import CLIError
    from headdb.db.migrate import SchemaNotReadyError
    from headdb.errors import DetectJobError, HeadDBError, ModelLoadError
    from headdb.site.build import SiteOutputError

    for error in (UnknownNameError, IngestConflictError, CatalogError, CLIError, SchemaNotReadyError,
                  DetectJobError, ModelLoadError, SiteOutputError):
        assert issubclass(error, HeadDBError), error


# -- control characters already in the database ---------------------------------------------------


def _plant_control_characters(db: HeadDB) -> str:
    """Store a title with terminal escapes directly, as an older headdb could have."""
    title = "Knowledge \x1b[2J\x1b]0;owned\x07Circuits \x9b31m\u202eevil"
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE papers SET title = :t WHERE slug = :s"), {"t": title, "s": KC})
    return title


def test_control_characters_in_stored_data_never_reach_the_terminal(small_db: HeadDB, capsys: pytest.CaptureFixture[str]) -> None:
    title = _plant_control_characters(small_db)
    for extra in ([], ["--json"]):
        code, out, _ = _cli(capsys, "--url", small_db.url, "papers", *extra)
        assert code == 0
        assert not any(c in out for c in "\x1b\x07\x9b\u202e"), repr(out)
    assert json.loads(_cli(capsys, "--url", small_db.url, "papers", "--json")[1])[0]["title"] == title


def test_control_characters_in_stored_data_never_reach_the_html(small_db: HeadDB, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _plant_control_characters(small_db)
    code, _, _ = _cli(capsys, "--url", small_db.url, "site", "build", "--no-strict", "--out", str(tmp_path / "site"))
    assert code == 0
    page = (tmp_path / "site" / "papers" / KC / "index.html").read_text()
    assert "Knowledge \\x1b[2J" in page
    for path in (tmp_path / "site").rglob("*"):
        if path.suffix in (".html", ".json", ".xml", ".svg"):
            content = path.read_text()
            assert not any(c in content for c in "\x1b\x07\x9b\u202e"), path


# -- site build output directory -----------------------------------------------------------------


def test_site_build_refuses_a_directory_it_did_not_build(small_db: HeadDB, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "about.md").write_text("# Hand-written\n")
    code, _, err = _cli(capsys, "--url", small_db.url, "site", "build", "--no-strict", "--out", str(docs))
    assert code == 1
    _assert_one_line_error(err, f"refusing to replace {docs}", "not built by headdb")
    assert [p.name for p in docs.iterdir()] == ["about.md"]
    assert (docs / "about.md").read_text() == "# Hand-written\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_site_build_replaces_its_own_site_and_uses_an_empty_directory(small_db: HeadDB, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "site"
    out.mkdir()
    assert _cli(capsys, "--url", small_db.url, "site", "build", "--no-strict", "--out", str(out))[0] == 0
    assert (out / ".headdb-site").is_file() and (out / "index.html").is_file()
    (out / "stale.html").write_text("from an earlier build")
    assert _cli(capsys, "--url", small_db.url, "site", "build", "--no-strict", "--out", str(out))[0] == 0
    assert not (out / "stale.html").exists() and (out / "papers" / KC / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["papers", "site", "small.sqlite"]
