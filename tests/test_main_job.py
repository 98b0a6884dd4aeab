"""The README's main job, end to end, on a scratch database and scratch directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from headdb import HeadDB
from headdb.cli import main

from conftest import PAPERS, shared_path

pytestmark = pytest.mark.slow


def test_main_job_labels_models_and_builds_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shared_path("models", "stories260K")
    url = f"sqlite:///{tmp_path / 'main.sqlite'}"
    args = ["--url", url, "main", str(PAPERS), "--models-dir", str(tmp_path / "models"), "--site-dir", str(tmp_path / "site")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "headdb-planted: 8 detector runs stored (9 labelled heads)" in out
    assert "headdb-random-control: 8 detector runs stored (0 labelled heads)" in out
    assert "stories260K:" in out and f"site built: {tmp_path / 'site' / 'index.html'}" in out
    db = HeadDB(url)
    assert len(db.papers()) >= 68
    assert {r.model for r in db.runs()} == {"headdb-planted", "headdb-random-control", "stories260K"}
    assert (tmp_path / "site" / "models" / "stories260k" / "index.html").exists()

    assert main(args) == 0  # a second run redoes nothing
    again = capsys.readouterr().out
    assert "catalog unchanged" in again and "0 detector runs stored (0 labelled heads), 8 unchanged" in again
