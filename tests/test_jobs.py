"""Detector jobs: stored runs, no-op reruns, --force, failures, interruption, and agreement."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from headdb import HeadDB
from headdb.cli import main
from headdb.db.models import DetectorRun, HeadLabel, HeadScore
from headdb.errors import DetectJobError, ModelLoadError
from headdb.jobs.loading import load_model
from headdb.jobs.runner import run_detectors

from conftest import PAPERS, REPO, shared_path

pytestmark = pytest.mark.slow
FAST = ["previous-token", "induction", "successor", "name-mover"]


def _counts(db: HeadDB) -> tuple[int, int, int]:
    with Session(db.engine) as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (DetectorRun, HeadScore, HeadLabel))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def planted(test_models):  # type: ignore[no-untyped-def]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return load_model(str(test_models["planted"]), name="headdb-planted")


def test_detect_stores_runs_scores_labels(catalog_db: HeadDB, planted) -> None:  # type: ignore[no-untyped-def]
    outcomes = run_detectors(catalog_db, planted, FAST)
    assert [o.status for o in outcomes] == ["succeeded"] * 4
    runs, scores, labels = _counts(catalog_db)
    assert runs == 4 and scores == 12 * 6 and labels == 5  # name-mover scores three head types
    model = catalog_db.model("headdb-planted")
    assert (model.n_layers, model.n_heads, model.weights_fingerprint) == (3, 4, planted.weights_fingerprint)
    run = catalog_db.runs("headdb-planted")[0]
    assert run.status == "succeeded" and run.duration_s is not None and len(run.data_fingerprint) == 64
    assert [l.coordinate for l in catalog_db.labels("headdb-planted", head_type="induction")] == ["1.0"]
    grid = catalog_db.scores("headdb-planted", "previous-token")
    assert grid.shape == (3, 4) and float(grid[0, 0]) > 0.99
    frame = catalog_db.scores("headdb-planted", "previous-token", as_frame=True)
    assert frame.index.name == "layer" and frame.shape == (3, 4)


def test_rerun_is_noop_and_force_replaces(catalog_db: HeadDB, planted) -> None:  # type: ignore[no-untyped-def]
    run_detectors(catalog_db, planted, FAST)
    before = _counts(catalog_db)
    again = run_detectors(catalog_db, planted, FAST)
    assert {o.status for o in again} == {"skipped"}
    assert _counts(catalog_db) == before
    forced = run_detectors(catalog_db, planted, FAST, force=True)
    assert {o.status for o in forced} == {"succeeded"}
    assert _counts(catalog_db) == before  # replaced, not duplicated
    assert {r.id for r in catalog_db.runs("headdb-planted")}.isdisjoint({o.run_id for o in again})


def test_failing_detector_stores_no_scores(catalog_db: HeadDB, planted, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from headdb.detectors.successor import SuccessorDetector

    def broken(self, ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(SuccessorDetector, "score", broken)
    with pytest.raises(DetectJobError, match="successor: RuntimeError: boom"):
        run_detectors(catalog_db, planted, FAST)
    runs, scores, labels = _counts(catalog_db)
    assert (scores, labels) == (0, 0)
    failed = catalog_db.runs("headdb-planted")
    assert [(r.detector, r.status) for r in failed] == [("successor", "failed")] and "boom" in (failed[0].error or "")
    assert catalog_db.labels("headdb-planted") == []


def test_interrupted_job_writes_nothing(catalog_db: HeadDB, planted, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from headdb.detectors.successor import SuccessorDetector

    def interrupted(self, ctx):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(SuccessorDetector, "score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_detectors(catalog_db, planted, FAST)
    assert _counts(catalog_db) == (0, 0, 0)


def test_cli_detect_and_queries(catalog_db: HeadDB, test_models, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    url = catalog_db.url
    args = ["--url", url, "detect", str(test_models["planted"]), "--name", "planted", "--detectors", "previous-token,successor", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "previous-token" in out and "0.0" in out and "succeeded" in out
    assert main(args) == 0 and "skipped" in capsys.readouterr().out
    assert main(["--url", url, "heads", "planted", "--json"]) == 0
    assert '"coordinate": "1.1"' in capsys.readouterr().out
    assert main(["--url", url, "scores", "planted", "successor"]) == 0
    assert "layer" in capsys.readouterr().out
    assert main(["--url", url, "runs", "planted"]) == 0
    assert main(["--url", url, "detect", str(test_models["planted"]), "--detectors", "nonsense"]) == 1
    assert "unknown detector(s) nonsense" in capsys.readouterr().err
    assert main(["--url", url, "detect", "/no/such/model-dir"]) == 1
    assert "could not load model '/no/such/model-dir'" in capsys.readouterr().err


def _fixture_catalog(tmp_path: Path) -> tuple[Path, Path]:
    """A catalog whose one paper claims heads of the planted model: some right, one wrong."""
    papers = tmp_path / "papers"
    papers.mkdir()
    entry = {
        "title": "A Test Paper About The Planted Model",
        "date": "2025-01-01",
        "published_in": "headdb test fixture",
        "authors": ["A. Tester"],
        "missing": {"arxiv": "a test fixture, never on arXiv", "venue": "a test fixture, never reviewed"},
        "heads": ["Induction Head", "Previous Token Head", "Successor Head"],
        "links": ["https://example.org/planted"],
        "summary": {"innovation": "x", "tasks": "y", "significant_result": "z"},
        "claims": [
            {"model": "headdb-planted", "head": "1.0", "type": "Induction Head", "source": "fixture"},
            {"model": "headdb-planted", "head": "2.3", "type": "Induction Head", "source": "fixture"},
            {"model": "headdb-planted", "head": "0.0", "type": "Previous Token Head", "source": "fixture"},
            {"model": "headdb-planted", "head": "2.2", "type": "Mover Head", "source": "fixture"},
        ],
    }
    (papers / "2025-planted.yaml").write_text(yaml.safe_dump(entry))
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump([{"name": "headdb-planted", "n_layers": 3, "n_heads": 4}]))
    return papers, models


def test_agreement_on_planted_model(db_url: str, planted, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    db = HeadDB(db_url)
    db.upgrade()
    papers, models = _fixture_catalog(tmp_path)
    db.ingest(papers, models=models)
    run_detectors(db, planted, ["previous-token", "induction", "successor"])
    rows = {(r.head_type, r.coordinate): r for r in db.agreement("headdb-planted")}
    assert rows[("induction", "1.0")].status == "agree" and rows[("induction", "1.0")].rank == 1
    assert rows[("induction", "2.3")].status == "claimed-not-detected" and rows[("induction", "2.3")].rank > 1
    assert rows[("previous-token", "0.0")].status == "agree"
    assert rows[("successor", "1.1")].status == "detected-not-claimed"
    assert rows[("mover", "2.2")].status == "not-scored"  # claimed, but no mover run yet
    assert rows[("induction", "1.0")].papers == ("2025-planted",)
    assert [r.coordinate for r in db.agreement("headdb-planted", head_type="induction")] == ["1.0", "2.3"]
    assert main(["--url", db_url, "agreement", "headdb-planted"]) == 0
    assert "claimed-not-detected" in capsys.readouterr().out


def test_stories260k_detect_twice_and_kill_midway(tmp_path: Path) -> None:
    stories = shared_path("models", "stories260K")
    url = f"sqlite:///{tmp_path / 'stories.sqlite'}"
    db = HeadDB(url)
    db.upgrade()
    db.ingest(PAPERS)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "headdb.cli", "--url", url, "detect", str(stories)]

    # killed while computing: nothing is written
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, cwd=REPO)
    assert proc.stderr is not None
    seen = b""
    deadline = time.time() + 120
    while b"repeated_random_tokens" not in seen and b"factual" not in seen and time.time() < deadline:
        seen += proc.stderr.read1(4096)  # type: ignore[attr-defined]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _counts(db) == (0, 0, 0)

    done = subprocess.run(command + ["--no-progress"], env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    first = _counts(db)
    assert first[0] >= 6 and first[1] == 40 * first[0] + 80  # name-mover stores three head types
    again = subprocess.run(command + ["--no-progress"], env=env, capture_output=True, text=True, cwd=REPO)
    assert again.returncode == 0 and "skipped" in again.stdout
    assert _counts(db) == first


def test_bfloat16_job_finds_the_same_heads(catalog_db: HeadDB, test_models) -> None:  # type: ignore[no-untyped-def]
    loaded = load_model(str(test_models["planted"]), name="planted-bf16", dtype="bfloat16")
    outcomes = run_detectors(catalog_db, loaded, ["previous-token", "induction", "successor"])
    assert [o.labels for o in outcomes] == [{"previous-token": ["0.0"]}, {"induction": ["1.0"]}, {"successor": ["1.1"]}]
    assert {r.dtype for r in catalog_db.runs("planted-bf16")} == {"bfloat16"}


def test_scores_carry_intervals_p_values_and_label_evidence(catalog_db: HeadDB, planted) -> None:  # type: ignore[no-untyped-def]
    from headdb.db.models import HeadScore as Score

    run_detectors(catalog_db, planted, ["previous-token", "name-mover"])
    with Session(catalog_db.engine) as s:
        scored = s.scalars(select(Score)).all()
        labels = s.scalars(select(HeadLabel)).all()
    assert all(r.ci_low is not None and r.ci_low <= r.score + 1e-6 <= r.ci_high + 2e-6 for r in scored)
    assert all(r.p_value is not None and 0 <= r.q_value <= 1 for r in scored)  # 0: the t-test's p underflowed
    for label in labels:
        checks = {e["check"]: e for e in label.evidence}
        assert checks and all(e["holds"] for e in checks.values())
        assert any(e["source"] == "headdb convention" for e in checks.values())


def test_detect_works_on_a_fresh_database_without_ingest(tmp_path: Path, planted) -> None:  # type: ignore[no-untyped-def]
    db = HeadDB(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    db.upgrade()
    outcomes = run_detectors(db, planted, ["induction"])
    assert outcomes[0].labels == {"induction": ["1.0"]}
    assert db.head_type("Induction Head").slug == "induction"  # the packaged taxonomy, with aliases


def test_names_that_normalise_equal_are_one_model(catalog_db: HeadDB, test_models) -> None:  # type: ignore[no-untyped-def]
    first = load_model(str(test_models["planted"]), name="Headdb_Planted")
    run_detectors(catalog_db, first, ["induction"])
    second = load_model(str(test_models["planted"]), name="headdb-planted")
    assert run_detectors(catalog_db, second, ["induction"])[0].status == "skipped"
    assert [m.name for m in catalog_db.models() if "planted" in m.name.lower()] == ["Headdb_Planted"]
    assert catalog_db.labels("HEADDB PLANTED")[0].model == "Headdb_Planted"


def test_a_local_directory_is_found_by_its_path(catalog_db: HeadDB, test_models, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = str(test_models["planted"])
    assert main(["--url", catalog_db.url, "detect", path, "--detectors", "induction", "--no-progress"]) == 0
    assert [l.coordinate for l in catalog_db.labels(path)] == ["1.0"]


def test_a_stored_name_of_another_shape_is_refused_before_computing(catalog_db: HeadDB, test_models, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from headdb.detectors.induction import InductionDetector
    from headdb.errors import ModelLoadError

    loaded = load_model(str(test_models["planted"]), name="gpt2")  # the registry's gpt2 is 12 x 12
    monkeypatch.setattr(InductionDetector, "score", lambda self, ctx: pytest.fail("computed before refusing"))
    with pytest.raises(ModelLoadError, match="12 layers x 12 heads.*3 x 4"):
        run_detectors(catalog_db, loaded, ["induction"])


def test_revisions_are_part_of_a_models_identity(catalog_db: HeadDB, zoo_dir) -> None:  # type: ignore[no-untyped-def]
    directory = zoo_dir("zoo-gpt2-induction")
    steps = sorted(p.name for p in (directory / "checkpoints").iterdir())
    final = load_model(str(directory), name="zoo-gpt2-induction")
    early = load_model(str(directory), name="zoo-gpt2-induction", revision=steps[0])
    assert early.step == int(steps[0].split("-")[1]) and early.weights_fingerprint != final.weights_fingerprint
    for loaded in (final, early):
        run_detectors(catalog_db, loaded, ["previous-token"])
    runs = catalog_db.runs("zoo-gpt2-induction")
    assert len(runs) == 1 and len(catalog_db.runs()) == 2  # the checkpoint is another model identity
    with pytest.raises(ModelLoadError, match="not a checkpoint"):
        load_model(str(directory), revision="step-999999")


def _detect_command(url: str, model: Path) -> list[str]:
    return [sys.executable, "-m", "headdb.cli", "--url", url, "detect", str(model), "--name", "planted",
            "--detectors", "previous-token,induction", "--no-progress"]


def test_concurrent_detects_store_each_run_once(db_url: str, test_models) -> None:  # type: ignore[no-untyped-def]
    """Four writers on one model at once: all succeed, and each detector's run is stored once."""
    db = HeadDB(db_url)
    db.upgrade()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    procs = [subprocess.Popen(_detect_command(db_url, test_models["planted"]), env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [r[1][-500:] for r in results]
    runs = db.runs("planted")
    assert sorted(r.detector for r in runs) == ["induction", "previous-token"]
    assert [m.name for m in db.models()].count("planted") == 1
    assert _counts(db) == (2, 24, 2)
    db.engine.dispose()
