"""Sweep specs: brace ranges and lists, checkpoint directories, spec files, and the errors a typo
gets (no model is loaded here)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from headdb.cli import main
from headdb.sweep.run import SweepError, job_url
from headdb.sweep.specs import MAX_TASKS, SweepSpecError, SweepTask, expand, parse_spec, parse_specs


def test_brace_ranges_lists_and_padding() -> None:
    assert expand("step{1000..3000..1000}") == ["step1000", "step2000", "step3000"]
    assert expand("step-{000500..001500..500}") == ["step-000500", "step-001000", "step-001500"]
    assert expand("{3..1}") == ["3", "2", "1"]
    assert expand("{1..10..4}") == ["1", "5", "9"]
    assert expand("a{x,y{1..2}}b,main") == ["axb", "ay1b", "ay2b", "main"]
    assert expand("v{1,2}-{a,b}") == ["v1-a", "v1-b", "v2-a", "v2-b"]
    assert len(expand("step{1000..143000..1000}")) == 143


@pytest.mark.parametrize("pattern, message", [
    ("{1..2", "unbalanced"), ("1..2}", "unbalanced"), ("{x}", "neither a range"), ("{1..3..0}", "may not be 0"),
    ("{1..1000000}", "expands to"),
])
def test_bad_patterns_are_one_line_errors(pattern: str, message: str) -> None:
    with pytest.raises(SweepSpecError, match=message):
        expand(pattern)


def test_hub_spec() -> None:
    tasks = parse_spec("EleutherAI/pythia-160m@step{1000..2000..1000},main")
    assert tasks == [SweepTask("EleutherAI/pythia-160m", r) for r in ("step1000", "step2000", "main")]
    assert parse_spec("gpt2") == [SweepTask("gpt2", "")]
    assert tasks[0].label == "EleutherAI/pythia-160m@step1000"


def _checkpointed(root: Path, steps: list[int]) -> Path:
    for step in steps:
        (root / "checkpoints" / f"step-{step:06d}").mkdir(parents=True)
        (root / "checkpoints" / f"step-{step:06d}" / "config.json").write_text("{}")
    (root / "checkpoints" / "notes").mkdir()  # not a checkpoint: no config.json
    return root


def test_local_checkpoints_by_step(tmp_path: Path) -> None:
    model = _checkpointed(tmp_path / "my model@2", [2000, 500, 10000])
    expected = ["step-000500", "step-002000", "step-010000"]
    assert [t.revision for t in parse_spec(f"{model}@checkpoints")] == expected
    assert [t.revision for t in parse_spec(str(model), all_checkpoints=True)] == expected
    assert [t.revision for t in parse_spec(f"{model}@step-0[01]0[05]*")] == ["step-000500", "step-010000"]
    assert [t.revision for t in parse_spec(f"{model}@step-{{000500..002000..1500}}")] == ["step-000500", "step-002000"]
    assert parse_spec(str(model)) == [SweepTask(str(model.resolve()), "")]  # '@' inside a directory name
    with pytest.raises(SweepSpecError, match="no checkpoint .* matches"):
        parse_spec(f"{model}@step-9*")


def test_checkpoints_need_a_local_directory(tmp_path: Path) -> None:
    with pytest.raises(SweepSpecError, match="needs a local model directory"):
        parse_spec("gpt2", all_checkpoints=True)
    (tmp_path / "bare").mkdir()
    with pytest.raises(SweepSpecError, match="has no checkpoints"):
        parse_spec(f"{tmp_path / 'bare'}@checkpoints")


def test_spec_file_comments_and_repeats(tmp_path: Path) -> None:
    spec_file = tmp_path / "sweep.txt"
    spec_file.write_text("# pythia\nEleutherAI/pythia-70m@step{1..2}  # two\n\ngpt2\n")
    tasks = parse_specs(["gpt2"], files=[str(spec_file)])
    assert [t.label for t in tasks] == ["gpt2", "EleutherAI/pythia-70m@step1", "EleutherAI/pythia-70m@step2"]
    with pytest.raises(SweepSpecError, match="nothing to sweep"):
        parse_specs([])
    with pytest.raises(SweepSpecError, match="must name one model"):
        parse_specs(["gpt2", "gpt2-medium"], name="x")
    assert MAX_TASKS >= 100_000


def test_database_url_for_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert job_url("sqlite:///rel.sqlite", "local", False) == f"sqlite:///{tmp_path / 'rel.sqlite'}"
    with pytest.raises(SweepError, match="need a database server"):
        job_url("sqlite:///rel.sqlite", "slurm", False)
    assert job_url("sqlite:///rel.sqlite", "slurm", True).endswith("rel.sqlite")
    url = "postgresql+psycopg://u:secret@db.example/h"
    assert job_url(url, "slurm", False) == url  # jobs need the password


def test_cli_spec_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--url", f"sqlite:///{tmp_path / 'x.sqlite'}", "sweep", "gpt2@{1..2"]) == 2
    assert capsys.readouterr().err.startswith("error: unbalanced '{'")
    assert main(["--url", f"sqlite:///{tmp_path / 'x.sqlite'}", "sweep"]) == 2
    assert "nothing to sweep" in capsys.readouterr().err


def test_cli_refuses_sqlite_for_slurm_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    assert main(["--url", url, "sweep", "gpt2", "--executor", "slurm", "--log-dir", str(tmp_path)]) == 1
    assert "need a database server" in capsys.readouterr().err


# -- the driver, without loading models -------------------------------------------------------------


def test_stored_results_are_skipped_only_with_the_same_configuration(empty_db) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from headdb.db.models import DetectorRun
    from headdb.detectors import get_detector
    from headdb.jobs.runner import config_fingerprint
    from headdb.sweep.run import already_stored
    from headdb.sweep.task import JobSettings

    from synthetic import add_results

    add_results(empty_db, "m", {"induction": [[0.9]]}, revision="step1", step=1)
    tasks = [SweepTask("m", "step1"), SweepTask("m", "step2")]
    settings = JobSettings(url=empty_db.url, detectors=("induction",))
    assert already_stored(empty_db.url, tasks, settings) == {}  # stored with another configuration
    with empty_db.engine.begin() as conn:
        conn.execute(update(DetectorRun).values(config_fingerprint=config_fingerprint(get_detector("induction")())))
    assert list(already_stored(empty_db.url, tasks, settings)) == [SweepTask("m", "step1")]
    assert already_stored(empty_db.url, tasks, JobSettings(url=empty_db.url, detectors=("induction", "successor"))) == {}
    assert already_stored(empty_db.url, tasks, JobSettings(url=empty_db.url, detectors=("induction",), dtype="bfloat16")) == {}


def test_a_refused_submission_fails_those_jobs_not_the_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from submitit.core.utils import FailedJobError

    from headdb import HeadDB
    from headdb.sweep import run
    from headdb.sweep.task import JobSettings

    class Refusing:
        cluster = "local"

        @contextlib.contextmanager
        def batch(self):  # type: ignore[no-untyped-def]
            yield

        def submit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise FailedJobError("sbatch: error: invalid partition specified: nope")

    monkeypatch.setattr(run, "make_executor", lambda options, cluster, log_dir: Refusing())
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    HeadDB(url).upgrade()
    lines: list[str] = []
    report = run.run_sweep([SweepTask("gpt2", "a"), SweepTask("gpt2", "b"), SweepTask("gpt2", "c")],
                           JobSettings(url=url, detectors=("induction",)),
                           run.SweepOptions(executor="local", max_parallel=2, log_dir=tmp_path / "logs"), log=lines.append)
    assert [j.state for j in report.jobs] == ["failed"] * 3
    assert all(j.error and "invalid partition" in j.error for j in report.jobs)
    assert "3 failed" in report.summary() and any("submitting" in line for line in lines)


def test_an_unmigrated_database_fails_before_any_job(tmp_path: Path) -> None:
    from headdb.db.migrate import SchemaNotReadyError
    from headdb.sweep import run
    from headdb.sweep.task import JobSettings

    with pytest.raises(SchemaNotReadyError, match="headdb db upgrade"):
        run.run_sweep([SweepTask("gpt2")], JobSettings(url=f"sqlite:///{tmp_path / 'new.sqlite'}"),
                      run.SweepOptions(executor="local", log_dir=tmp_path / "logs"))
