"""The command line: help for every subcommand, readable tables, JSON output, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from headdb import HeadDB
from headdb.cli import build_parser, main
from headdb.db.migrate import head_revision


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"headdb {command}" in out and len(out.splitlines()) > 2


def test_console_script_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "headdb.cli", "--help"], capture_output=True, text=True, check=True)
    assert "validate" in result.stdout and "ingest" in result.stdout


def test_papers_table_and_json(catalog_db: HeadDB, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", catalog_db.url, "papers", "--head-type", "successor"]) == 0
    table = capsys.readouterr().out
    assert "Successor Heads: Recurring" in table and table.splitlines()[1].startswith("---")
    assert main(["--url", catalog_db.url, "papers", "--head-type", "successor", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["slug"] for r in records} >= {"2024-successor-heads-recurring-interpretable-attention"}


def test_claims_answer_name_mover_question(catalog_db: HeadDB, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", catalog_db.url, "claims", "--model", "gpt2", "--head-type", "name-mover", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert sorted((r["layer"], r["head"]) for r in records) == [(9, 6), (9, 9), (10, 0)]
    assert {r["paper"] for r in records} == {"2023-interpretability-wild-circuit-indirect-object"}


def test_head_types_by_stage(catalog_db: HeadDB, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", catalog_db.url, "head-types", "--stage", "LR"]) == 0
    out = capsys.readouterr().out
    assert "successor" in out and "name-mover" not in out


def test_unknown_name_is_a_clean_error(catalog_db: HeadDB, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", catalog_db.url, "claims", "--head-type", "nmae mover"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown head type 'nmae mover'") and "Traceback" not in err


def test_db_upgrade_and_current(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    assert main(["--url", url, "db", "upgrade"]) == 0
    assert main(["--url", url, "db", "current"]) == 0
    out = capsys.readouterr().out
    newest = head_revision()
    assert f"is at revision {newest}" in out and f"current: {newest}" in out
