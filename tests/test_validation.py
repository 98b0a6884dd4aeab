"""The detector validation report on the zoo's fast subset: stored, printed, and compared with the
committed baseline so that a detector that gets worse fails the suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headdb import HeadDB
from headdb.cli import main

from conftest import MainJobRun

pytestmark = pytest.mark.slow
BASELINE = Path(__file__).parent / "data" / "validation_baseline.json"


@pytest.fixture(scope="module")
def report(main_job_run: MainJobRun):  # type: ignore[no-untyped-def]
    """The fast-subset report the main job stored."""
    return HeadDB(main_job_run.url).validation()


def test_report_is_stored_with_provenance(report) -> None:  # type: ignore[no-untyped-def]
    assert report.subset == "fast" and report.rows
    assert "zoo-gpt2-induction" in report.zoo and all(len(fp) == 64 for fp in report.zoo.values())
    assert report.detector_versions["induction"] == "2.1" and report.library_versions["torch"]
    assert all(r.detector_run_id is not None for r in report.rows)


def test_no_detector_labels_a_random_control(report) -> None:  # type: ignore[no-untyped-def]
    controls = [r for r in report.rows if r.model_kind == "control"]
    assert controls and all(r.labelled == [] for r in controls)


def test_planted_heads_are_found_exactly(report) -> None:  # type: ignore[no-untyped-def]
    """The calibrated detectors find every planted head and nothing else. (The circuit detectors'
    role definitions differ from the planted construction in two places; the baseline tracks them
    and the README's "Ground truth and validation" explains both.)"""
    planted = [r for r in report.rows if r.model_kind == "planted" and r.n_positive and not r.detector.startswith("circuit-")]
    assert len(planted) >= 18
    assert all(r.precision == 1.0 and r.recall == 1.0 for r in planted), [
        (r.model, r.head_type, r.precision, r.recall) for r in planted if (r.precision, r.recall) != (1.0, 1.0)]


def test_no_detector_regresses_against_the_baseline(report) -> None:  # type: ignore[no-untyped-def]
    """The committed baseline holds the fast subset's measured precision and recall; a change that
    lowers any of them, or labels a control, must update the baseline on purpose."""
    baseline = json.loads(BASELINE.read_text())
    rows = {f"{r.model}/{r.detector}/{r.head_type}": r for r in report.rows}
    worse = []
    for key, expected in baseline["results"].items():
        row = rows.get(key)
        assert row is not None, f"{key} is missing from the report"
        for metric in ("precision", "recall"):
            if expected[metric] is not None and (getattr(row, metric) or 0.0) < expected[metric] - 1e-9:
                worse.append(f"{key} {metric}: {getattr(row, metric)} < {expected[metric]}")
    assert worse == []


def test_cli_validates_chosen_models_and_detectors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'v.sqlite'}"
    args = ["--url", url, "validate-detectors", "--models", "zoo-planted", "--detectors", "previous-token,induction",
            "--no-stability", "--json"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["subset"] == "custom"
    assert {(r["model"], r["head_type"]) for r in printed["rows"]} == {
        ("zoo-planted", "previous-token"), ("zoo-planted", "induction")}
    assert all(r["precision"] == r["recall"] == 1.0 for r in printed["rows"]), printed["rows"]
    assert HeadDB(url).validation().id == printed["validation_run"]
