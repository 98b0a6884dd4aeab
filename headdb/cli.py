"""The ``headdb`` command line: one entry point, one subcommand per task.

Failures a user can do something about print one line, ``error: ...``, and exit with a code from
``headdb.errors.EXIT_CODES`` (listed in ``headdb --help``); see ``main``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy.exc import DatabaseError, DBAPIError, InterfaceError, OperationalError

from headdb.api import MAX_QUERY_TEXT, HeadDB, check_query_text, check_year
from headdb.catalog.validate import DEFAULT_MODELS, DEFAULT_TAXONOMY, CatalogError, load_catalog
from headdb.db.engine import describe_database_error
from headdb.db.migrate import current_revision, downgrade, head_revision
from headdb.errors import (
    EXIT_CODES,
    EXIT_DATABASE,
    EXIT_FILESYSTEM,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    HeadDBError,
    InvalidArgumentError,
)
from headdb.tables import format_table, to_json
from headdb.text import CONTROL_CHARS, brief, one_line

Handler = Callable[[argparse.Namespace], int]
MAX_ARGUMENT = 4096  # no argument (a path, a URL, a name) needs more


class CLIError(HeadDBError):
    """A user-facing failure of a command: printed without a traceback, exit code 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (``error: ...``), exit code 2, and ``_string``
    as the type of every argument declared without one (subcommands' parsers included)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("type", None, _string)

    def add_subparsers(self, **kwargs: Any) -> Any:
        action = super().add_subparsers(**kwargs)
        action.type = str  # its values are the subcommand's arguments, typed by its own parser
        return action

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {one_line(message)} (see `{self.prog} --help`)\n")


# -- argument types: bad values are usage errors, reported before anything runs ------------------


def _year(text: str) -> int:
    try:
        return check_year(int(text))
    except ValueError as exc:  # InvalidArgumentError is a ValueError too
        message = str(exc) if isinstance(exc, InvalidArgumentError) else f"not a year: {brief(text)}"
        raise argparse.ArgumentTypeError(message) from None


def _query_text(text: str) -> str:
    try:
        return check_query_text(text, "the value")
    except InvalidArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {brief(text)}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {brief(text)}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {brief(text)}")
    return value


def _string(text: str) -> str:
    """The type of every argument that names no other: bounded and free of control characters
    (NUL among them), which no path, URL or name needs and which would otherwise reach the
    database or the terminal."""
    if len(text) > MAX_ARGUMENT:
        raise argparse.ArgumentTypeError(f"too long ({len(text):,} characters, at most {MAX_ARGUMENT:,})")
    found = CONTROL_CHARS.search(text)
    if found:
        raise argparse.ArgumentTypeError(f"the control character {brief(found.group())} is not allowed")
    return text


def _db(args: argparse.Namespace) -> HeadDB:
    return HeadDB(args.url)


def _emit(args: argparse.Namespace, records: Sequence[Any], columns: Sequence[str]) -> int:
    rows = [r if isinstance(r, dict) else r.__dict__ for r in records]
    if getattr(args, "json", False):
        print(to_json(list(rows)))
    else:
        print(format_table(rows, columns))
    return 0


# -- db ------------------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    db = _db(args)
    db.upgrade()
    print(f"database {db.engine.url.render_as_string(hide_password=True)} is at revision {current_revision(db.engine)}")
    return 0


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    db = _db(args)
    downgrade(db.engine, args.revision)
    print(f"database is at revision {current_revision(db.engine)}")
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    db = _db(args)
    print(f"current: {current_revision(db.engine)}  newest: {head_revision()}")
    return 0


# -- catalog -------------------------------------------------------------------------------------


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _catalog_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("papers", nargs="?", default="papers", help="directory of paper entries (default: papers/)")
    parser.add_argument("--taxonomy", default=str(DEFAULT_TAXONOMY), help="taxonomy file (default: the package's)")
    parser.add_argument("--models", default=str(DEFAULT_MODELS), help="model registry file (default: the package's)")
    parser.add_argument("--published", help="directory of published per-head data (default: published/ beside the papers directory, if any)")


def _report_problems(problems: Sequence[object]) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"\n{len(problems)} problem(s) found; nothing was written.", file=sys.stderr)
    return 1


def cmd_validate(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.papers, args.taxonomy, args.models, args.published or True)
    if catalog.problems and args.github_annotations:
        from headdb.catalog.annotations import github_annotation

        for problem in catalog.problems:  # workflow commands go to standard output
            print(github_annotation(problem.file, problem.field, problem.message))
    if catalog.problems:
        return _report_problems(catalog.problems)
    n_claims = sum(len(p.entry.claims) for p in catalog.papers)
    n_values = sum(len(d.rows) for d in catalog.published)
    print(
        f"ok: {len(catalog.papers)} papers, {len(catalog.head_types)} head types, "
        f"{len(catalog.models)} models, {n_claims} claims, "
        f"{len(catalog.published)} published datasets ({n_values} head values)"
    )
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    report = _db(args).ingest(args.papers, args.taxonomy, args.models, args.published or True)
    print(("ingested: " if report.changed else "no changes: ") + report.summary())
    return 0


# -- queries -------------------------------------------------------------------------------------


def cmd_papers(args: argparse.Namespace) -> int:
    papers = _db(args).papers(head_type=args.head_type, year=args.year, venue=args.venue, text=args.text)
    rows = [dict(p.__dict__, where=p.where) for p in papers]
    return _emit(args, rows, ["date", "where", "title", "head_types", "slug"])


def cmd_head_types(args: argparse.Namespace) -> int:
    return _emit(args, _db(args).head_types(stage=args.stage, kind=args.kind), ["slug", "name", "stage", "group", "kind", "aliases"])


def cmd_published(args: argparse.Namespace) -> int:
    datasets = _db(args).published(model=args.model, paper=args.paper, head_type=args.head_type)
    if args.json:
        print(to_json([dict(d.__dict__, source_url=d.source_url, published_labels=d.labelled) for d in datasets]))
        return 0
    rows = [{"dataset": d.slug, "model": d.model, "head_type": d.head_type or "-", "kind": d.kind, "heads": len(d.values),
             "published labels": len(d.labelled) if d.threshold is not None else "-", "source": d.source_url} for d in datasets]
    print(format_table(rows, ["dataset", "model", "head_type", "kind", "heads", "published labels", "source"]))
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    claims = _db(args).claims(model=args.model, head_type=args.head_type, paper=args.paper)
    rows = [dict(c.__dict__, coordinate=c.coordinate) for c in claims]
    return _emit(args, rows, ["model", "coordinate", "head_type", "role", "paper", "confidence"])


def cmd_heads(args: argparse.Namespace) -> int:
    labels = _db(args).labels(args.model, head_type=args.head_type, revision=args.revision)
    if not labels and not args.json:
        print(f"no detector labels for {args.model} yet; run `headdb detect {args.model}`")
        return 0
    rows = [
        dict(label.__dict__, coordinate=label.coordinate, interval=label.interval,
             percentile=None if label.percentile is None else round(label.percentile, 1),
             rank=f"{label.rank}/{label.n_heads_scored}" if label.n_heads_scored else label.rank)
        for label in labels
    ]
    if args.json:
        return _emit(args, rows, [])
    return _emit(args, rows, ["head_type", "coordinate", "score", "interval", "q_value", "rank", "percentile", "detector", "run_id"])


def cmd_models(args: argparse.Namespace) -> int:
    return _emit(args, _db(args).models(),
                 ["name", "revision", "step", "family", "architecture", "n_layers", "n_heads", "d_model", "source"])


def _detector_list(text: str | None) -> list[str] | None:
    detectors = [d.strip() for d in text.split(",")] if text else None
    if detectors:
        from headdb.detectors import REGISTRY

        unknown = [d for d in detectors if d not in REGISTRY]
        if unknown:
            raise CLIError(f"unknown detector(s) {', '.join(unknown)}; known: {', '.join(sorted(REGISTRY))}")
    return detectors


def cmd_detect(args: argparse.Namespace) -> int:
    from headdb.jobs.loading import load_model
    from headdb.jobs.runner import run_detectors

    detectors = _detector_list(args.detectors)
    db = _db(args)
    loaded = load_model(
        args.model, name=args.name, device=args.device, dtype=args.dtype,
        revision=args.revision, trust_remote_code=args.trust_remote_code,
    )
    outcomes = run_detectors(
        db, loaded, detectors, batch_size=args.batch_size, force=args.force, progress=not args.no_progress
    )
    rows = [
        {
            "detector": o.detector,
            "status": o.status,
            "seconds": round(o.duration_s, 2) if o.status == "succeeded" else None,
            "labelled": "; ".join(f"{t}: {', '.join(h) or '-'}" for t, h in o.labels.items()) or o.reason,
        }
        for o in outcomes
    ]
    print(f"model {loaded.name} ({loaded.source}), weights {loaded.weights_fingerprint[:12]}")
    return _emit(args, rows, ["detector", "status", "seconds", "labelled"])


def cmd_circuit(args: argparse.Namespace) -> int:
    from headdb.circuits.discover import CircuitConfig
    from headdb.circuits.store import run_circuit
    from headdb.detectors.datasets import DatasetUnavailable
    from headdb.jobs.loading import load_model

    config = CircuitConfig(method=args.method, ig_steps=args.steps, n_prompts=args.prompts, seed=args.seed,
                           n_edges=args.edges, target_faithfulness=args.faithfulness, ablation=args.ablation,
                           selection="top-n" if args.top_n else "greedy")
    loaded = load_model(args.model, name=args.name, device=args.device, dtype=args.dtype, revision=args.revision,
                        trust_remote_code=args.trust_remote_code)
    try:
        outcome = run_circuit(_db(args), loaded, args.task, config, batch_size=args.batch_size, force=args.force)
    except DatasetUnavailable as exc:
        raise CLIError(f"task {args.task!r} cannot be built for {loaded.name}: {exc}") from None
    info = _db(args).circuits(loaded.name, task=args.task, revision=loaded.revision, with_edges=False)
    circuit = next(c for c in info if c.id == outcome.circuit_id)
    row = {"circuit": circuit.id, "status": outcome.status, "task": circuit.task, "method": circuit.method,
           "edges": f"{circuit.n_edges}/{circuit.n_edges_total}", "faithfulness": circuit.faithfulness,
           "heads": ", ".join(circuit.heads) or "-"}
    return _emit(args, [row], ["circuit", "status", "task", "method", "edges", "faithfulness", "heads"])


def cmd_circuits(args: argparse.Namespace) -> int:
    rows = [
        {"id": c.id, "model": c.model + (f"@{c.revision}" if c.revision else ""), "task": c.task, "method": c.method,
         "edges": f"{c.n_edges}/{c.n_edges_total}", "faithfulness": c.faithfulness, "heads": ", ".join(c.heads) or "-"}
        for c in _db(args).circuits(args.model, task=args.task, with_edges=False)
    ]
    return _emit(args, rows, ["id", "model", "task", "method", "edges", "faithfulness", "heads"])


def cmd_runs(args: argparse.Namespace) -> int:
    runs = _db(args).runs(args.model, revision=args.revision)
    return _emit(args, runs, ["id", "model", "revision", "detector", "detector_version", "status", "duration_s",
                              "n_labels", "started_at"])


def cmd_scores(args: argparse.Namespace) -> int:
    frame = _db(args).scores(args.model, args.head_type, as_frame=True, revision=args.revision)
    if args.json:
        print(to_json({"model": args.model, "revision": args.revision or "", "head_type": args.head_type,
                       "scores": frame.values.tolist()}))
    else:
        print(frame.round(3).to_string())
    return 0


def cmd_agreement(args: argparse.Namespace) -> int:
    rows = _db(args).agreement(args.model, head_type=args.head_type, revision=args.revision)
    if not rows and not args.json:
        print(f"nothing to compare for {args.model}: no claims or labels for its heads yet")
        return 0
    records = [dict(r.__dict__, coordinate=r.coordinate) for r in rows]
    return _emit(args, records, ["basis", "head_type", "coordinate", "status", "score", "rank", "papers", "dataset"])


def cmd_training(args: argparse.Namespace) -> int:
    training = _db(args).training(args.model, head_type=args.head_type)
    firsts = sorted(training.first_labels, key=lambda f: (f.head_type, f.first_step is None, f.first_step or 0, f.layer, f.head))
    if not args.all_heads:
        firsts = [f for f in firsts if f.first_step is not None]
    if args.json:
        print(to_json({
            "model": training.model, "steps": list(training.steps),
            "first_labels": [dict(f.__dict__, coordinate=f.coordinate) for f in firsts],
            "points": [p.__dict__ for p in training],
        }))
        return 0
    if not training.steps:
        print(f"{training.model}: its training-step revisions have no succeeded detector runs yet")
        return 0
    print(f"{training.model}: {len(training.steps)} training steps ({training.steps[0]} to {training.steps[-1]}), "
          f"{len(training.head_types)} head types")
    if not firsts:
        print("no head is labelled at any step" + ("" if args.all_heads else " (--all-heads lists every head)"))
        return 0
    rows = [dict(f.__dict__, coordinate=f.coordinate, labelled=f"{f.n_labelled}/{f.n_steps}") for f in firsts]
    print(format_table(rows, ["head_type", "coordinate", "first_step", "stable_step", "labelled", "final_score"]))
    return 0


def _slurm_param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (an sbatch option without its dashes), got {brief(text)}")
    return key.strip(), value.strip()


def _sweep_args(parser: argparse.ArgumentParser) -> None:
    jobs = parser.add_argument_group("what each job runs")
    jobs.add_argument("--detectors", help="comma-separated detector names (default: all)")
    jobs.add_argument("--device", default="cpu", help="cpu, cuda, ... (default: cpu)")
    jobs.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    jobs.add_argument("--batch-size", type=_positive_int, default=None,
                      help="prompts per forward pass (default: as many as a quarter of the job's free memory holds)")
    jobs.add_argument("--force", action="store_true", help="recompute detectors whose inputs are unchanged")
    jobs.add_argument("--trust-remote-code", action="store_true", help="allow model repositories' own Python code to run")
    run = parser.add_argument_group("how jobs run (submitit)")
    run.add_argument("--executor", choices=["auto", "local", "slurm"], default="auto",
                     help="slurm: sbatch job arrays; local: processes on this machine; auto (default): Slurm "
                     "when its commands are on PATH, else local")
    run.add_argument("--max-parallel", type=_positive_int, default=2, help="jobs running at once (default: 2)")
    run.add_argument("--retries", type=_non_negative_int, default=0, help="resubmit a failed job up to N times (default: 0)")
    run.add_argument("--log-dir", help="where submitit keeps each job's pickles and logs "
                     "(default: ./headdb-sweeps/TIME-PID; on a cluster it must be on a shared file system)")
    run.add_argument("--time", type=_positive_int, default=120, help="minutes a job may run (default: 120)")
    run.add_argument("--recheck", action="store_true",
                     help="submit every job, also those whose results are stored (each job still skips "
                     "unchanged detectors after checking weights and data fingerprints)")
    run.add_argument("--allow-sqlite", action="store_true",
                     help="let Slurm jobs write to an SQLite file (only if every node shares this file system)")
    slurm = parser.add_argument_group("Slurm options")
    slurm.add_argument("--partition", help="Slurm partition")
    slurm.add_argument("--mem", type=float, help="memory per job in GB")
    slurm.add_argument("--gpus", type=_non_negative_int, help="GPUs per job")
    slurm.add_argument("--cpus-per-task", type=_positive_int, help="CPU cores per job")
    slurm.add_argument("--slurm-param", type=_slurm_param, action="append", default=[], metavar="KEY=VALUE",
                       help="any other sbatch option, e.g. account=myproj or qos=short (repeatable)")
    slurm.add_argument("--setup", action="append", default=[], metavar="COMMAND",
                       help="shell line run before each job, e.g. 'source ~/venv/bin/activate' (repeatable)")
    _json_flag(parser)


def _run_sweep(args: argparse.Namespace, tasks: list[Any]) -> int:
    from headdb.sweep.run import SweepOptions, run_sweep
    from headdb.sweep.task import JobSettings

    detectors = _detector_list(args.detectors)
    settings = JobSettings(url=args.url or "", detectors=tuple(detectors) if detectors else None, device=args.device,
                           dtype=args.dtype, batch_size=args.batch_size, force=args.force,
                           trust_remote_code=args.trust_remote_code)
    options = SweepOptions(
        executor=args.executor, max_parallel=args.max_parallel, retries=args.retries,
        log_dir=Path(args.log_dir) if args.log_dir else None, timeout_min=args.time, partition=args.partition,
        mem_gb=args.mem, gpus=args.gpus, cpus_per_task=args.cpus_per_task, slurm_params=dict(args.slurm_param),
        setup=tuple(args.setup), allow_sqlite=args.allow_sqlite, recheck=args.recheck,
    )
    report = run_sweep(tasks, settings, options)
    rows = [
        {"job": j.task.label, "state": j.state, "attempts": j.attempts, "job_id": j.job_id or "", "runs stored": j.stored,
         "labelled": "; ".join(
             f"{t}: {', '.join(h) or '-'}" for o in (j.result or {}).get("outcomes", []) for t, h in o["labels"].items()
         ) or j.error or j.reason}
        for j in report.jobs
    ]
    if args.json:
        print(to_json({"summary": report.summary(), "wall_s": round(report.wall_s, 2), "executor": report.executor,
                       "log_dir": str(report.log_dir),
                       "jobs": [dict(r, log_tail=j.log_tail, log_file=j.log_file) for r, j in zip(rows, report.jobs)]}))
    else:
        print(format_table(rows, ["job", "state", "attempts", "job_id", "runs stored", "labelled"]))
        for j in report.failed:
            print(f"\n{j.task.label} failed after {j.attempts} attempt(s): {j.error}\n  log: {j.log_file}")
            for line in j.log_tail:
                print(f"  | {line}")
        print(f"\n{report.summary()}")
    if report.failed:
        return _fail(f"{len(report.failed)} of {len(report.jobs)} sweep jobs failed (their log tails are above)", 1)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from headdb.sweep.specs import parse_specs

    tasks = parse_specs(args.specs, files=args.file, all_checkpoints=args.checkpoints, name=args.name)
    return _run_sweep(args, tasks)


def cmd_zoo_sweep(args: argparse.Namespace) -> int:
    from headdb.sweep.specs import parse_spec
    from headdb.zoo import build

    specs = _zoo_specs(args)
    if len(specs) != 1:
        raise CLIError("name one zoo model to sweep (run one `headdb zoo sweep` per model)")
    spec = specs[0]
    if spec.kind != "trained":
        raise CLIError(f"{spec.name} is a {spec.kind} zoo model: only trained ones have training checkpoints")
    path = build(spec, _cache(args), log=lambda line: print(line, file=sys.stderr))
    return _run_sweep(args, parse_spec(str(path), all_checkpoints=True, name=spec.name))


def _zoo_specs(args: argparse.Namespace) -> list[Any]:
    from headdb.zoo import selected

    try:
        return selected(args.models.split(",") if args.models else None, fast=args.fast)
    except KeyError as exc:
        raise CLIError(str(exc.args[0])) from None


def _cache(args: argparse.Namespace) -> Path | None:
    return Path(args.cache) if args.cache else None


def cmd_zoo_build(args: argparse.Namespace) -> int:
    from headdb.zoo import build

    for spec in _zoo_specs(args):
        path = build(spec, _cache(args), log=lambda line: print(line, file=sys.stderr))
        print(f"{spec.name}: {path}")
    return 0


def cmd_zoo_list(args: argparse.Namespace) -> int:
    from headdb.zoo import ZOO, default_cache
    from headdb.zoo.registry import BUILD_FILE, model_dir

    cache = _cache(args) or default_cache()
    rows = [
        {"name": s.name, "kind": s.kind, "architecture": s.architecture, "fast": s.fast,
         "shape": f"{s.n_layers}x{s.n_heads}", "tasks": ", ".join(s.tasks), "steps": s.steps or None,
         "built": (model_dir(s, cache) / BUILD_FILE).exists()}
        for s in ZOO.values()
    ]
    return _emit(args, rows, ["name", "kind", "architecture", "shape", "tasks", "steps", "fast", "built"])


def _fraction(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def cmd_validate_detectors(args: argparse.Namespace) -> int:
    from headdb.main_job import stories_dir
    from headdb.validation.report import validate_detectors

    detectors = _detector_list(args.detectors)
    specs = _zoo_specs(args)
    subset = "fast" if args.fast else ("full" if not args.models else "custom")
    stories = None if args.no_stability else stories_dir()
    report = validate_detectors(_db(args), specs, subset=subset, cache=_cache(args), detectors=detectors,
                                stories=stories, log=lambda line: print(line, file=sys.stderr))
    rows = [
        {"detector": r.detector, "head_type": r.head_type, "model": r.model, "kind": r.model_kind,
         "precision": r.metrics.precision, "recall": r.metrics.recall, "auroc": r.metrics.auroc,
         "true heads (rank)": ", ".join(f"{c} ({k})" for c, k in r.metrics.true_head_ranks.items()) or "-",
         "labelled": ", ".join(r.metrics.labelled) or "-", "note": r.note}
        for r in sorted(report.rows, key=lambda r: (r.detector, r.head_type, r.model))
    ]
    if args.json:
        print(to_json({"validation_run": report.run_id, "subset": subset, "rows": rows, "stability": report.stability}))
        return 0
    for row in rows:  # two decimals in the table; JSON keeps the numbers
        row.update({k: _fraction(row[k]) for k in ("precision", "recall", "auroc")})
    print(format_table(rows, ["detector", "head_type", "model", "kind", "precision", "recall", "auroc",
                              "true heads (rank)", "labelled", "note"]))
    for model, s in report.stability.items():
        verdict = "meets" if s["meets_target"] else "misses"
        print(f"\nstability on {model}: Jaccard {s['jaccard']:.2f} between {s['runs'][0]} and {s['runs'][1]} "
              f"({verdict} the {s['target']} target); {len(s['labels_a'])} and {len(s['labels_b'])} labels")
        for v in s.get("sensitivity", []):
            skipped = f"; could not run: {', '.join(sorted(v['skipped']))}" if v["skipped"] else ""
            print(f"  sensitivity, {v['run']}: Jaccard {v['jaccard']:.2f} with the first"
                  f"{'' if v['comparable'] else ' (not comparable)'}; only here: {', '.join(v['only_second']) or '-'}{skipped}")
    print(f"\nvalidation run {report.run_id} stored ({report.duration_s:.0f} s)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from headdb.export import export_tables, row_counts, write_export

    db = _db(args)
    if args.bibtex:
        from headdb.bibtex import bibtex_catalog

        papers = db.papers()
        text = bibtex_catalog(papers)
        if args.bibtex == "-":
            sys.stdout.write(text)
        else:
            Path(args.bibtex).write_text(text, encoding="utf-8")
            print(f"wrote {len(papers)} BibTeX entries to {args.bibtex}")
        if not args.format:
            return 0
    tables = export_tables(db.engine)
    files = write_export(tables, args.out, args.format or "json")
    print(f"exported {row_counts(tables)} as {args.format or 'json'} to {Path(args.out)}/ ({len(files)} files)")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from headdb.export import import_catalog

    db = _db(args)
    counts = import_catalog(db.engine, args.path)
    print("imported " + ", ".join(f"{n} {t.replace('_', ' ')}" for t, n in counts.items()))
    return 0


def cmd_new_paper(args: argparse.Namespace) -> int:
    from headdb.catalog.new import write_skeleton

    path = write_skeleton(Path(args.papers), args.title, arxiv=args.arxiv, date=args.date, heads=args.head or [],
                          force=args.force)
    print(f"wrote {path}; fill in every TODO, then run `headdb validate {args.papers}`")
    return 0


def cmd_site_build(args: argparse.Namespace) -> int:
    from headdb.site.build import build_site

    site = build_site(_db(args), args.out, strict=not args.no_strict)
    print(f"site built: {site / 'index.html'}")
    return 0


def cmd_site_serve(args: argparse.Namespace) -> int:
    import functools
    import http.server

    from headdb.site.build import build_site

    site = build_site(_db(args), args.out)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    with http.server.ThreadingHTTPServer((args.host, args.port), handler) as server:
        print(f"serving {site} at http://{args.host}:{args.port}/ (Ctrl+C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


def cmd_main(args: argparse.Namespace) -> int:
    """The README's main job: schema, catalog, detectors on the bundled models, the site."""
    from headdb.main_job import run_main_job

    run_main_job(_db(args), Path(args.papers), Path(args.site_dir), cache=_cache(args), fast=args.fast)
    return 0


def _revision_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--revision", help="the model's revision (default: as published, or the NAME@REVISION given)")


def _zoo_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fast", action="store_true", help="only the fast subset (the test suite's)")
    parser.add_argument("--models", help="comma-separated zoo model names (default: all)")
    parser.add_argument("--cache", help="zoo cache directory (default: $HEADDB_ZOO_CACHE, else ~/.cache/headdb/zoo)")


def _exit_codes_epilog() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="headdb",
        description="headdb: an attention-head taxonomy database. Papers' head claims, detector "
        "labels for every head of a model, and a static catalog site.",
        epilog=_exit_codes_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--url",
        default=None,
        help="SQLAlchemy database URL (default: $HEADDB_URL, else sqlite:///headdb.sqlite)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    db = sub.add_parser("db", help="create or migrate the database schema", description="Manage the database schema (Alembic migrations).")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    p = db_sub.add_parser("upgrade", help="create the schema or upgrade it to the newest revision")
    p.set_defaults(handler=cmd_db_upgrade)
    p = db_sub.add_parser("downgrade", help="downgrade to a revision (e.g. -1, 0001, base)")
    p.add_argument("revision")
    p.set_defaults(handler=cmd_db_downgrade)
    p = db_sub.add_parser("current", help="show the database's revision and the newest one")
    p.set_defaults(handler=cmd_db_current)

    p = add("validate", cmd_validate, "check every paper entry, the published data, the taxonomy and the model registry; "
            "report all problems (exit 1 if any)")
    _catalog_args(p)
    p.add_argument("--github-annotations", action="store_true",
                   help="also print each problem as a GitHub Actions ::error command (file, line, field) to annotate pull requests")
    p = add("ingest", cmd_ingest, "validate, then synchronise the database with the catalog in one transaction")
    _catalog_args(p)

    p = add("papers", cmd_papers, "list papers, newest first, filtered by head type, year, venue or text")
    p.add_argument("--head-type", help="slug, name or alias, e.g. successor or 'Previous Head'")
    p.add_argument("--year", type=_year, help="publication year, e.g. 2024")
    p.add_argument("--venue", type=_query_text, help=f"substring of the venue, e.g. ICLR (at most {MAX_QUERY_TEXT} characters)")
    p.add_argument("--text", type=_query_text, help=f"substring of the title or summary (at most {MAX_QUERY_TEXT} characters)")
    _json_flag(p)

    p = add("head-types", cmd_head_types, "list the taxonomy's head types, optionally of one stage")
    p.add_argument("--stage", help="KR, ICI, LR, EP or the stage's name, e.g. 'Latent Reasoning'")
    p.add_argument("--kind", choices=["mechanistic", "intervention-selected", "score-selected"],
                   help="only types defined by their computation, or selected by an intervention or observational score")
    _json_flag(p)

    p = add("published", cmd_published, "list per-head data papers published (scores for every head, or a circuit's heads), with sources")
    p.add_argument("--model", help="e.g. Llama-2-7B-80K")
    p.add_argument("--paper", help="paper slug or exact title")
    p.add_argument("--head-type", help="e.g. retrieval")
    _json_flag(p)

    p = add("claims", cmd_claims, "list published claims: which paper reports which head of which model as what")
    p.add_argument("--model", help="e.g. gpt2")
    p.add_argument("--head-type", help="e.g. name-mover")
    p.add_argument("--paper", help="paper slug or exact title")
    _json_flag(p)

    p = add("heads", cmd_heads, "list the heads of a model that detectors labelled, with scores and ranks")
    p.add_argument("model", help="name, local directory, or NAME@REVISION")
    p.add_argument("--head-type")
    _revision_flag(p)
    _json_flag(p)

    p = add("models", cmd_models, "list models known to the database")
    _json_flag(p)

    p = add("detect", cmd_detect, "score and label every head of a model with the detectors; stores runs, scores and labels")
    p.add_argument("model", help="hub id (e.g. gpt2, EleutherAI/pythia-160m) or a local Hugging Face model directory")
    p.add_argument("--name", help="name to store the model under (default: registry name, hub id or directory name)")
    p.add_argument("--detectors", help="comma-separated detector names (default: all)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default: cpu)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="prompts per forward pass (default: as many as a quarter of the free memory holds)")
    p.add_argument("--revision", help="hub revision (branch, tag or commit), or for a local directory a checkpoint: "
                   "DIR/REV or DIR/checkpoints/REV (e.g. step-001000); part of the model's identity")
    p.add_argument("--force", action="store_true", help="rerun detectors whose inputs are unchanged since their last run")
    p.add_argument("--trust-remote-code", action="store_true", help="allow the model repository's own Python code to run")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _json_flag(p)

    p = add("circuit", cmd_circuit, "discover a circuit with edge attribution patching (EAP or EAP-IG) and store it")
    p.add_argument("model", help="hub id or local Hugging Face model directory (as for detect)")
    p.add_argument("--task", required=True, help="ioi, greater-than or factual:RELATION (e.g. factual:capital)")
    p.add_argument("--method", choices=["eap-ig", "eap"], default="eap-ig")
    p.add_argument("--steps", type=_positive_int, default=5, help="integrated-gradient steps (EAP-IG; default 5)")
    p.add_argument("--edges", type=_positive_int, help="keep this many edges instead of the faithfulness target")
    p.add_argument("--faithfulness", type=float, default=0.8,
                   help="the smallest circuit whose normalised faithfulness reaches this (default 0.8)")
    p.add_argument("--top-n", action="store_true", help="select the top edges by |score| (default: greedy from the logits)")
    p.add_argument("--ablation", choices=["corrupted", "mean"], default="corrupted",
                   help="what a removed edge carries: the corrupted prompt's value (default) or the dataset mean")
    p.add_argument("--prompts", type=_positive_int, default=32, help="clean/corrupted prompt pairs (default 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", help="name to store the model under (default: registry name, hub id or directory name)")
    p.add_argument("--revision", help="hub revision or checkpoint")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="prompts per forward pass (default: as many as a quarter of the free memory holds)")
    p.add_argument("--force", action="store_true", help="rediscover even if an identical circuit is stored")
    p.add_argument("--trust-remote-code", action="store_true")
    _json_flag(p)

    p = add("circuits", cmd_circuits, "list stored circuits, newest first")
    p.add_argument("model", nargs="?")
    p.add_argument("--task")
    _json_flag(p)

    p = add("sweep", cmd_sweep, "run the detectors on many models and revisions, one submitit job each "
            "(Slurm on a cluster, local processes otherwise); skips stored results, retries or reports failures")
    p.add_argument("specs", nargs="*", metavar="SPEC",
                   help="NAME_OR_PATH[@REVISIONS]: a hub id, registry name or local directory, and revisions as "
                   "comma lists and brace ranges, e.g. EleutherAI/pythia-160m@step{1000..143000..1000} or "
                   "DIR@checkpoints (every checkpoint under DIR/checkpoints/)")
    p.add_argument("--file", action="append", default=[], help="a file of specs, one per line (# comments)")
    p.add_argument("--checkpoints", action="store_true", help="every local directory's checkpoints/* as revisions")
    p.add_argument("--name", help="store every job's model under this name (the specs must name one model)")
    _sweep_args(p)

    p = add("training", cmd_training, "heads across training: for each head type, when each head's label first "
            "holds over a model's checkpoint revisions (from `headdb sweep`)")
    p.add_argument("model", help="model name (its revisions with a training step are read)")
    p.add_argument("--head-type")
    p.add_argument("--all-heads", action="store_true", help="also heads never labelled")
    _json_flag(p)

    p = add("runs", cmd_runs, "list detector runs, newest first")
    p.add_argument("model", nargs="?", help="name, local directory, or NAME@REVISION")
    _revision_flag(p)
    _json_flag(p)

    p = add("scores", cmd_scores, "print the newest layer x head score grid of a model for a head type")
    p.add_argument("model", help="name, local directory, or NAME@REVISION")
    p.add_argument("head_type")
    _revision_flag(p)
    _json_flag(p)

    p = add("agreement", cmd_agreement, "compare a model's detector labels with the papers' claims about it")
    p.add_argument("model", help="name, local directory, or NAME@REVISION")
    p.add_argument("--head-type")
    _revision_flag(p)
    _json_flag(p)

    zoo = sub.add_parser("zoo", help="build or list the ground-truth zoo (trained, planted and control models)",
                         description="The ground-truth zoo: models whose heads' roles are known, built once and cached.")
    zoo_sub = zoo.add_subparsers(dest="zoo_command", required=True, metavar="ACTION")
    p = zoo_sub.add_parser("build", help="build zoo models (all, the fast subset, or those named), reusing the cache")
    _zoo_args(p)
    p.set_defaults(handler=cmd_zoo_build)
    p = zoo_sub.add_parser("sweep", help="sweep a trained zoo model's training checkpoints (builds it first if needed)")
    p.add_argument("models", metavar="NAME", help="a trained zoo model, e.g. zoo-gpt2-induction")
    p.add_argument("--cache", help="zoo cache directory (default: $HEADDB_ZOO_CACHE, else ~/.cache/headdb/zoo)")
    p.set_defaults(handler=cmd_zoo_sweep, fast=False)
    _sweep_args(p)
    p = zoo_sub.add_parser("list", help="list the zoo's models and whether each is built")
    p.add_argument("--cache", help="zoo cache directory (default: $HEADDB_ZOO_CACHE, else ~/.cache/headdb/zoo)")
    _json_flag(p)
    p.set_defaults(handler=cmd_zoo_list)

    p = add("validate-detectors", cmd_validate_detectors,
            "run every detector on every zoo model and report precision, recall, AUROC and the rank of every "
            "true head against the zoo's ground truth; stores the report")
    _zoo_args(p)
    p.add_argument("--detectors", help="comma-separated detector names (default: all)")
    p.add_argument("--no-stability", action="store_true", help="skip the label-stability check on stories260K")
    _json_flag(p)

    p = add("export", cmd_export, "write the whole catalog (papers, claims, head types, models, published data, detector "
            "runs, scores, labels) as JSON, CSV or Parquet, and/or its BibTeX")
    p.add_argument("--format", choices=["json", "csv", "parquet"], help="export format (default: json, unless only --bibtex is given)")
    p.add_argument("--out", default="export", help="output directory (default: export/)")
    p.add_argument("--bibtex", metavar="FILE", help="also write one BibTeX entry per paper to FILE ('-' for standard output)")

    p = add("import", cmd_import, "load an export (a JSON file, or a directory of CSV or Parquet tables) into an empty database")
    p.add_argument("path", help="headdb-catalog.json, or the directory `headdb export` wrote")

    new = sub.add_parser("new", help="write a skeleton catalog entry", description="Write a skeleton catalog entry to fill in.")
    new_sub = new.add_subparsers(dest="new_command", required=True, metavar="KIND")
    p = new_sub.add_parser("paper", help="write papers/<slug>.yaml for a new paper, with every field to fill marked TODO")
    p.add_argument("--title", required=True, help="the paper's exact title")
    p.add_argument("--arxiv", help="arXiv id, e.g. 2312.09230 (without it, missing.arxiv must say why)")
    p.add_argument("--date", help="first public version, YYYY-MM-DD (YYYY-MM or YYYY when only that is known)")
    p.add_argument("--head", action="append", help="a head type the paper names (repeat for more)")
    p.add_argument("--papers", default="papers", help="directory of paper entries (default: papers/)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(handler=cmd_new_paper)

    site = sub.add_parser("site", help="build or preview the static catalog site", description="Render the database into a static mkdocs-material site.")
    site_sub = site.add_subparsers(dest="site_command", required=True, metavar="ACTION")
    p = site_sub.add_parser("build", help="render pages from the database and build the site (strict: broken links fail)")
    p.add_argument("--out", default="site", help="output directory (default: site/)")
    p.add_argument("--no-strict", action="store_true", help="do not fail on mkdocs warnings")
    p.set_defaults(handler=cmd_site_build)
    p = site_sub.add_parser("serve", help="build, then serve the site locally for preview")
    p.add_argument("--out", default="site", help="output directory (default: site/)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8000)
    p.set_defaults(handler=cmd_site_serve)

    p = add("main", cmd_main, "the main job: create/upgrade the database, ingest papers, build and validate "
            "the ground-truth zoo, label the bundled real model, build the site")
    p.add_argument("papers", nargs="?", default="papers", help="directory of paper entries (default: papers/)")
    p.add_argument("--site-dir", default="site", help="where the static site is built")
    p.add_argument("--cache", help="zoo cache directory (default: $HEADDB_ZOO_CACHE, else ~/.cache/headdb/zoo)")
    p.add_argument("--fast", action="store_true", help="only the zoo's fast subset")
    return parser


def _fail(message: str, code: int) -> int:
    print(f"error: {one_line(message)}", file=sys.stderr)
    return code


def _environmental(exc: DBAPIError) -> bool:
    """Whether the database failed for a reason outside headdb's SQL (unreachable, locked,
    read-only, full, not a database); anything else (an IntegrityError, say) is a bug."""
    return isinstance(exc, (OperationalError, InterfaceError)) or type(exc) is DatabaseError


def _os_message(exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    return f"{reason}: {exc.filename}" if exc.filename else str(exc) or reason


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. User errors become one line on stderr and an exit code:
    headdb's own (``HeadDBError``: its ``exit_code``), the database's (3) and the file system's
    (4); any other exception is a bug and keeps its traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except CatalogError as exc:
        return _report_problems(exc.problems)
    except HeadDBError as exc:
        return _fail(str(exc.args[0]) if exc.args else str(exc), exc.exit_code)
    except DBAPIError as exc:
        if not _environmental(exc):
            raise
        return _fail(describe_database_error(exc), EXIT_DATABASE)
    except OSError as exc:
        return _fail(_os_message(exc), EXIT_FILESYSTEM)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
