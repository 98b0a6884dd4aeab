"""Sweeps of the zoo's training checkpoints through submitit: the local executor on SQLite and
PostgreSQL (every checkpoint, then again with everything skipped), two identical sweeps at once
(no duplicate models or runs), a failing job among good ones, and a real Slurm cluster where one
runs (`sinfo` works; `.ci/start-slurm` starts one).

The fast zoo model zoo-gpt2-induction is built once into the zoo cache ($HEADDB_ZOO_CACHE, else
~/.cache/headdb/zoo; about 2 minutes the first time). Only the previous-token and induction
detectors run, to keep each job to seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from headdb import HeadDB
from headdb.cli import main
from headdb.db.models import DetectorRun, Model

from conftest import REPO

pytestmark = pytest.mark.slow
NAME = "zoo-gpt2-induction"
DETECTORS = "previous-token,induction"
CHECKPOINTS = [f"step-{s:06d}" for s in range(500, 3501, 500)]


@pytest.fixture(scope="module")
def zoo_dir() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from headdb.zoo import ZOO, build

    return build(ZOO[NAME])


@pytest.fixture
def db(db_url: str) -> HeadDB:
    handle = HeadDB(db_url)
    handle.upgrade()
    return handle


def _sweep_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    """Run ``headdb ... --json``: its exit code and its report, with the progress and error lines
    it printed on stderr under "stderr"."""
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    return code, dict(json.loads(captured.out), stderr=captured.err)


def _identities(db: HeadDB) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """How often each revision of NAME is stored, and each (revision, detector) succeeded run."""
    with Session(db.engine) as s:
        models = Counter(s.scalars(select(Model.revision).where(Model.name_key == NAME)))
        runs = Counter(
            (rev, det) for rev, det in s.execute(
                select(Model.revision, DetectorRun.detector).join(DetectorRun.model)
                .where(Model.name_key == NAME, DetectorRun.status == "succeeded")
            )
        )
    return models, runs


def test_zoo_checkpoints_sweep_on_the_local_executor(db: HeadDB, zoo_dir: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--url", db.url, "zoo", "sweep", NAME, "--executor", "local", "--detectors", DETECTORS,
            "--max-parallel", "2", "--log-dir", str(tmp_path / "logs")]
    code, report = _sweep_json(capsys, *argv)
    assert code == 0, report
    assert report["executor"] == "local"
    assert [j["job"] for j in report["jobs"]] == [f"{NAME}@{c}" for c in CHECKPOINTS]
    assert [j["state"] for j in report["jobs"]] == ["done"] * 7
    models, runs = _identities(db)
    assert models == Counter({c: 1 for c in CHECKPOINTS})
    assert runs == Counter({(c, d): 1 for c in CHECKPOINTS for d in DETECTORS.split(",")})
    assert [(m.revision, m.step) for m in db.models() if m.name == NAME] == [(c, int(c[5:])) for c in CHECKPOINTS]

    # The same sweep again: every job's results are stored, so none is submitted.
    code, again = _sweep_json(capsys, *argv)
    assert code == 0 and [j["state"] for j in again["jobs"]] == ["skipped"] * 7
    assert _identities(db) == (models, runs)

    # Heads across training: at the last checkpoint (the model the zoo's ground truth is for) the
    # labelled previous-token heads are the ones patching found; each has a first and a stable step.
    from headdb.zoo.registry import read_ground_truth

    truth = set(read_ground_truth(zoo_dir)["roles"]["previous-token"]["positives"])  # type: ignore[index]
    training = db.training(NAME, "previous-token")
    assert training.steps == tuple(range(500, 3501, 500))
    final = {p.coordinate for p in training if p.step == 3500 and p.label}
    assert truth and final == truth
    firsts = {f.coordinate: f for f in training.first_labels}
    assert all(firsts[c].first_step is not None and firsts[c].stable_step is not None for c in truth)


def test_the_same_sweep_twice_at_once_stores_everything_once(db: HeadDB, zoo_dir: Path, tmp_path: Path) -> None:
    spec = f"{zoo_dir}@step-{{001000..003000..1000}}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    commands = [
        [sys.executable, "-m", "headdb.cli", "--url", db.url, "sweep", spec, "--name", NAME, "--executor", "local",
         "--detectors", DETECTORS, "--max-parallel", "3", "--log-dir", str(tmp_path / f"logs{i}"), "--json"]
        for i in range(2)
    ]
    processes = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    outputs = [p.communicate(timeout=900) for p in processes]
    for p, (out, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-2000:]
    models, runs = _identities(db)
    revisions = [f"step-{s:06d}" for s in (1000, 2000, 3000)]
    assert models == Counter({r: 1 for r in revisions})
    assert runs == Counter({(r, d): 1 for r in revisions for d in DETECTORS.split(",")})
    # Each job's results were stored by exactly one of the two sweeps; the other found them stored.
    states: dict[str, list[str]] = {}
    for out, _ in outputs:
        for job in json.loads(out)["jobs"]:
            states.setdefault(job["job"], []).append(job["state"])
    assert all(sorted(s)[0] == "done" and sorted(s)[1] in ("skipped", "unchanged") for s in states.values()), states


def test_a_failing_job_is_reported_and_the_others_finish(tmp_path: Path, zoo_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'fail.sqlite'}"
    HeadDB(url).upgrade()
    code, report = _sweep_json(
        capsys, "--url", url, "sweep", f"{zoo_dir}@step-000500,step-999999", "--name", NAME, "--executor", "local",
        "--detectors", "previous-token", "--retries", "1", "--log-dir", str(tmp_path / "logs"),
    )
    assert code == 1
    jobs = {j["job"]: j for j in report["jobs"]}
    good, bad = jobs[f"{NAME}@step-000500"], jobs[f"{NAME}@step-999999"]
    assert good["state"] == "done" and good["attempts"] == 1
    assert bad["state"] == "failed" and bad["attempts"] == 2
    assert "is not a checkpoint" in bad["labelled"]  # the error line
    assert any("step-999999" in line for line in bad["log_tail"]) and Path(bad["log_file"]).is_file()
    assert "error: 1 of 2 sweep jobs failed" in report["stderr"]
    assert "step-999999 failed (attempt 1 of 2)" in report["stderr"] and "retrying" in report["stderr"]
    assert HeadDB(url).revisions(NAME) == ["step-000500"]


def _slurm_ready() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(s.strip().rstrip("*") in ("idle", "mix", "alloc") for s in states.split())


@pytest.mark.slurm
def test_sweep_on_a_real_slurm_cluster(zoo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not _slurm_ready():
        pytest.skip("needs a running Slurm cluster (`sinfo` shows no usable node; .ci/start-slurm starts one)")
    from conftest import POSTGRES_ENV, _reset_postgres

    url = os.environ.get(POSTGRES_ENV)
    if url:
        _reset_postgres(url)
        extra = []
    else:  # one node: it shares this file system, so SQLite works
        url, extra = f"sqlite:///{tmp_path / 'slurm.sqlite'}", ["--allow-sqlite"]
    HeadDB(url).upgrade()
    code, report = _sweep_json(
        capsys, "--url", url, "sweep", f"{zoo_dir}@step-{{000500..001000..500}}", "--name", NAME,
        "--executor", "slurm", "--detectors", "previous-token", "--time", "10", "--log-dir", str(tmp_path / "logs"),
        *extra,
    )
    assert code == 0, report
    assert report["executor"] == "slurm"
    assert [j["state"] for j in report["jobs"]] == ["done", "done"]
    assert all(j["job_id"] and "_" in j["job_id"] for j in report["jobs"])  # one Slurm job array
    assert HeadDB(url).revisions(NAME) == ["step-000500", "step-001000"]
