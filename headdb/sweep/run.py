"""Fan a sweep's jobs out through submitit: Slurm on a cluster, submitit's local executor on one
machine; one job per (model, revision).

The driver (``run_sweep``)

1. checks the database: its schema must be current, and jobs must reach it (an SQLite file is
   passed to jobs by absolute path; with Slurm, whose jobs run on other nodes, SQLite is refused
   unless ``allow_sqlite``);
2. leaves out jobs whose results are already stored: a (model, revision) whose newest runs include
   a succeeded run of every requested detector at its current version and configuration, on the
   same device and dtype, is "skipped" without being submitted. Inside each submitted job
   ``run_detectors`` checks the full provenance (weights and data fingerprints too) and skips
   unchanged detectors, so ``recheck`` (submit every job) is the way to catch changed weights
   under an unchanged name and revision;
3. submits the other jobs (Slurm: one job array, at most ``max_parallel`` running at once; local:
   at most ``max_parallel`` processes at a time), prints progress whenever a count changes, and
   resubmits a failed job up to ``retries`` times; a failure touches no other job;
4. returns a ``SweepReport``: every job's state, attempts, submitit job id, what it stored, and
   for failures the last lines of the job's log.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from headdb.db.engine import resolve_url
from headdb.errors import HeadDBError, InvalidArgumentError
from headdb.sweep.specs import SweepTask
from headdb.sweep.task import JobSettings, run_task

EXECUTORS = ("auto", "local", "slurm")
LOG_TAIL_LINES = 12
FORCE_CHECK_S = 60  # how often a cluster's job states are re-read for jobs that left no result
# Job states: queued (not yet submitted), running (submitted), and the final ones.
DONE, UNCHANGED, SKIPPED, FAILED = "done", "unchanged", "skipped", "failed"
FINAL = (DONE, UNCHANGED, SKIPPED, FAILED)


class SweepError(HeadDBError):
    """The sweep cannot start: no usable executor, a database jobs cannot reach, ..."""


@dataclasses.dataclass
class SweepOptions:
    executor: str = "auto"  # auto | local | slurm
    max_parallel: int = 2
    retries: int = 0
    log_dir: Path | None = None  # default: ./headdb-sweeps/<UTC time>-<pid>
    timeout_min: int = 120  # per job
    partition: str | None = None
    mem_gb: float | None = None
    gpus: int | None = None  # per job (Slurm --gpus-per-node)
    cpus_per_task: int | None = None
    slurm_params: dict[str, str] = dataclasses.field(default_factory=dict)  # extra #SBATCH options
    setup: tuple[str, ...] = ()  # shell lines run before each job (module load, source venv, ...)
    allow_sqlite: bool = False
    recheck: bool = False
    poll_s: float = 1.0


@dataclasses.dataclass
class JobRecord:
    task: SweepTask
    state: str = "queued"
    attempts: int = 0
    job_id: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None  # the failure, one line
    log_tail: list[str] = dataclasses.field(default_factory=list)
    log_file: str | None = None
    reason: str = ""  # why it was skipped

    @property
    def stored(self) -> int:
        """Detector runs this job stored."""
        return sum(o["status"] == "succeeded" for o in (self.result or {}).get("outcomes", []))


@dataclasses.dataclass
class SweepReport:
    jobs: list[JobRecord]
    executor: str  # the submitit executor that ran them: local or slurm
    log_dir: Path
    wall_s: float

    def count(self, state: str) -> int:
        return sum(j.state == state for j in self.jobs)

    @property
    def failed(self) -> list[JobRecord]:
        return [j for j in self.jobs if j.state == FAILED]

    def summary(self) -> str:
        return (f"{len(self.jobs)} jobs: {self.count(DONE)} done, {self.count(UNCHANGED)} unchanged, "
                f"{self.count(SKIPPED)} skipped, {self.count(FAILED)} failed ({self.wall_s:.1f} s, "
                f"{self.executor} executor, logs in {self.log_dir})")


# -- database -----------------------------------------------------------------------------------


def job_url(url: str | None, cluster: str, allow_sqlite: bool) -> str:
    """The database URL as jobs must see it: SQLite by absolute path; on Slurm, a server."""
    parsed = make_url(resolve_url(url))
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise InvalidArgumentError("a sweep needs a database its jobs can open: an SQLite file or a server, not :memory:")
        if cluster == "slurm" and not allow_sqlite:
            raise SweepError(
                "Slurm jobs run on the cluster's nodes, which need a database server: give --url "
                "postgresql+psycopg://user:password@host/db (or set HEADDB_URL); --allow-sqlite runs it on "
                "SQLite anyway, which only works if every node sees this file on a shared file system"
            )
        parsed = parsed.set(database=str(Path(parsed.database).expanduser().resolve()))
    return parsed.render_as_string(hide_password=False)


def check_database(url: str) -> None:
    """Fail here, not in every job, if the database is unreachable or its schema is not current."""
    from headdb.api import HeadDB

    db = HeadDB(url)
    try:
        db.check_schema()
    finally:
        db.engine.dispose()


def _stored_name(task: SweepTask) -> str:
    """The name ``load_model`` will store ``task``'s model under."""
    from headdb.jobs.loading import local_model_name, registry_source

    if task.name:
        return task.name
    if Path(task.source).is_dir():
        return local_model_name(task.source)
    registered = registry_source(task.source)
    return registered[0] if registered else task.source


def already_stored(url: str, tasks: Sequence[SweepTask], settings: JobSettings) -> dict[SweepTask, str]:
    """The tasks whose results are stored (see the module's docstring, step 2), with the reason."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from headdb.api import HeadDB
    from headdb.db.models import DetectorRun, Model, model_name_key
    from headdb.detectors import REGISTRY, get_detector
    from headdb.jobs.runner import config_fingerprint
    from headdb.queries.latest import latest_runs

    if settings.force:
        return {}
    wanted = {}
    for name in settings.detectors or sorted(REGISTRY):
        detector = get_detector(name)()
        wanted[name] = (detector.metadata.version, config_fingerprint(detector))
    keys = {(model_name_key(_stored_name(t)), t.revision): t for t in tasks}
    db = HeadDB(url)
    try:
        with Session(db.engine) as session:
            models = {
                (key, rev): model_id
                for model_id, key, rev in session.execute(
                    select(Model.id, Model.name_key, Model.revision).where(Model.name_key.in_({k for k, _ in keys}))
                )
                if (key, rev) in keys
            }
            if not models:
                return {}
            have: dict[int, set[tuple[str, str, str]]] = {}
            for model_id, detector, version, config in session.execute(
                select(DetectorRun.model_id, DetectorRun.detector, DetectorRun.detector_version,
                       DetectorRun.config_fingerprint)
                .where(DetectorRun.id.in_(latest_runs(models.values())), DetectorRun.device == settings.device,
                       DetectorRun.dtype == settings.dtype)
            ):
                have.setdefault(model_id, set()).add((detector, version, config))
    finally:
        db.engine.dispose()
    done = {}
    for identity, model_id in models.items():
        if all((name, *fp) in have.get(model_id, set()) for name, fp in wanted.items()):
            done[keys[identity]] = "stored already (same detector versions and configuration); --recheck to verify weights"
    return done


# -- executors ----------------------------------------------------------------------------------


def cluster_of(executor: str) -> str:
    """The submitit executor ``executor`` stands for: ``auto`` is Slurm where its commands are on
    PATH (submitit's own choice), else local."""
    import submitit

    if executor not in EXECUTORS:
        raise InvalidArgumentError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if executor != "auto":
        return executor
    try:
        return submitit.AutoExecutor.which()
    except RuntimeError as exc:
        raise SweepError(f"no submitit executor is available here: {exc}") from None


def make_executor(options: SweepOptions, cluster: str, log_dir: Path) -> Any:
    """A submitit executor on ``cluster`` for ``options``, writing under ``log_dir`` (a folder per job)."""
    import shutil

    import submitit

    if cluster == "slurm" and shutil.which("sbatch") is None:
        raise SweepError("the slurm executor needs Slurm's sbatch on PATH")
    executor = submitit.AutoExecutor(folder=log_dir / "%j", cluster=cluster)
    params: dict[str, Any] = {"timeout_min": options.timeout_min, "name": "headdb-sweep"}
    if options.mem_gb is not None:
        params["mem_gb"] = options.mem_gb
    if options.gpus is not None:
        params["gpus_per_node"] = options.gpus
    if options.cpus_per_task is not None:
        params["cpus_per_task"] = options.cpus_per_task
    if cluster == "slurm":
        params["slurm_array_parallelism"] = options.max_parallel
        if options.partition:
            params["slurm_partition"] = options.partition
        if options.slurm_params:
            params["slurm_additional_parameters"] = dict(options.slurm_params)
        if options.setup:
            params["slurm_setup"] = list(options.setup)
    elif options.setup:
        params["local_setup"] = list(options.setup)
    executor.update_parameters(**params)
    return executor


def default_log_dir() -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return Path("headdb-sweeps") / f"{stamp}-{os.getpid()}"


def _tail(job: Any) -> tuple[list[str], str | None]:
    """The last lines of a finished job's log (its stderr, else its stdout) and the file's path."""
    for text, path in ((_read(job, "stderr"), job.paths.stderr), (_read(job, "stdout"), job.paths.stdout)):
        lines = [line.rstrip() for line in (text or "").splitlines() if line.strip()]
        if lines:
            return lines[-LOG_TAIL_LINES:], str(path)
    return [], str(job.paths.stderr)


def _read(job: Any, stream: str) -> str | None:
    try:
        return getattr(job, stream)()
    except Exception:  # a log a cluster node never wrote
        return None


def _error_line(exc: BaseException) -> str:
    """The job's own error: the last line of the traceback submitit recorded."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and not set(line.strip()) <= {"-"}]
    for line in reversed(lines):
        if not line.startswith(("You can check full logs", "or at paths", "- /")) and ":" in line:
            return line
    return lines[0] if lines else type(exc).__name__


class _Progress:
    """One line whenever a count changes."""

    def __init__(self, total: int, log: Callable[[str], None]) -> None:
        self.total, self.log, self.last = total, log, ""

    def update(self, jobs: Sequence[JobRecord]) -> None:
        c = Counter(j.state for j in jobs)
        finished = sum(c[s] for s in FINAL)
        line = (f"sweep: {finished}/{self.total} finished ({c[DONE]} done, {c[UNCHANGED]} unchanged, "
                f"{c[SKIPPED]} skipped, {c[FAILED]} failed), {c['running']} running, {c['queued']} queued")
        if line != self.last:
            self.log(line)
            self.last = line


def run_sweep(
    tasks: Sequence[SweepTask],
    settings: JobSettings,
    options: SweepOptions,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> SweepReport:
    """Run ``tasks`` (``settings.url`` is the database; see the module's docstring)."""
    if options.max_parallel < 1 or options.retries < 0:
        raise InvalidArgumentError("max_parallel must be at least 1 and retries at least 0")
    started = time.perf_counter()
    cluster = cluster_of(options.executor)
    settings = dataclasses.replace(settings, url=job_url(settings.url, cluster, options.allow_sqlite))
    if cluster == "slurm" and make_url(settings.url).host in ("localhost", "127.0.0.1", "::1"):
        log("warning: the database URL names this machine (localhost); jobs on other nodes cannot reach it")
    check_database(settings.url)
    log_dir = (options.log_dir or default_log_dir()).expanduser().resolve()
    log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # job pickles hold the database URL
    executor = make_executor(options, cluster, log_dir)
    jobs = [JobRecord(t) for t in tasks]
    skip = {} if options.recheck else already_stored(settings.url, tasks, settings)
    for job in jobs:
        if job.task in skip:
            job.state, job.reason = SKIPPED, skip[job.task]
    log(f"sweep: {len(jobs)} jobs ({len(skip)} already stored) on the {cluster} executor, "
        f"at most {options.max_parallel} at a time; logs in {log_dir}")
    progress = _Progress(len(jobs), log)
    running: dict[int, Any] = {}  # index in jobs -> submitit job
    last_force = time.monotonic()
    # submitit warns at every status poll when Slurm keeps no accounting (sacct fails) and it reads
    # squeue instead; job failures reach the report either way.
    submitit_logger = logging.getLogger("submitit")
    level = submitit_logger.level
    submitit_logger.setLevel(logging.ERROR)
    try:
        while True:
            queued = [i for i, j in enumerate(jobs) if j.state == "queued"]
            if cluster == "slurm":
                batch = queued  # one array; Slurm keeps at most max_parallel running
            else:
                batch = queued[: max(0, options.max_parallel - len(running))]
            if batch:
                _submit(executor, jobs, batch, settings, running, log)
            progress.update(jobs)
            if not running:
                if any(j.state == "queued" for j in jobs):
                    continue  # a refused submission freed the slots
                break
            time.sleep(options.poll_s)
            force = time.monotonic() - last_force > FORCE_CHECK_S
            if force:
                last_force = time.monotonic()
            for i, submitted in list(running.items()):
                if not submitted.done(force_check=force):
                    continue
                del running[i]
                _collect(jobs[i], submitted, options.retries, log)
    except KeyboardInterrupt:
        for submitted in running.values():
            try:
                submitted.cancel(check=False)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        raise
    finally:
        submitit_logger.setLevel(level)
    progress.update(jobs)
    return SweepReport(jobs, cluster, log_dir, time.perf_counter() - started)


def _submit(executor: Any, jobs: list[JobRecord], indices: list[int], settings: JobSettings,
            running: dict[int, Any], log: Callable[[str], None]) -> None:
    """Submit ``indices`` (one Slurm array when several); a refused submission (sbatch failing, a
    full disk) fails those jobs, not the sweep."""
    from submitit.core.utils import FailedJobError, FailedSubmissionError

    try:
        if len(indices) == 1:
            submitted = [executor.submit(run_task, jobs[indices[0]].task, settings)]
        else:
            with executor.batch():
                pending = [executor.submit(run_task, jobs[i].task, settings) for i in indices]
            submitted = list(pending)
    except (FailedJobError, FailedSubmissionError, OSError) as exc:
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        log(f"sweep: submitting {len(indices)} job(s) failed: {reason}")
        for i in indices:
            jobs[i].state, jobs[i].error = FAILED, f"not submitted: {reason}"
            jobs[i].attempts += 1
        return
    for i, job in zip(indices, submitted):
        jobs[i].state, jobs[i].job_id = "running", str(job.job_id)
        jobs[i].attempts += 1
        running[i] = job


def _collect(record: JobRecord, job: Any, retries: int, log: Callable[[str], None]) -> None:
    exc = job.exception()
    if exc is None:
        record.result = job.result()
        statuses = {o["status"] for o in record.result["outcomes"]}
        record.state = DONE if "succeeded" in statuses else UNCHANGED
        record.error, record.log_tail = None, []
        return
    record.error = _error_line(exc)
    record.log_tail, record.log_file = _tail(job)
    if record.attempts <= retries:
        log(f"sweep: {record.task.label} failed (attempt {record.attempts} of {retries + 1}): {record.error}; retrying")
        record.state = "queued"
    else:
        record.state = FAILED
        log(f"sweep: {record.task.label} failed: {record.error}")
