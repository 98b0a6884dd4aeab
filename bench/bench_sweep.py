"""Benchmark: a sweep of the ground-truth zoo's training checkpoints (zoo-gpt2-induction, 7
checkpoints) through submitit's local executor into a fresh database, then the same sweep again
(every job's results stored, so nothing is submitted). Prints the wall time of each, the sum of
the jobs' own times (model loading and detectors, inside each job process) and the first step at
which each induction head's label holds.

    .venv/bin/python bench/bench_sweep.py [--detectors all|a,b] [--max-parallel 2] [--url URL]

The zoo model is built into the zoo cache first if it is not there (about 2 minutes).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
NAME = "zoo-gpt2-induction"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", default="all", help="comma-separated detector names, or all (default)")
    parser.add_argument("--max-parallel", type=int, default=2)
    parser.add_argument("--url", help="database (default: a fresh SQLite file)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))

    from headdb import HeadDB
    from headdb.sweep.run import SweepOptions, run_sweep
    from headdb.sweep.specs import parse_spec
    from headdb.sweep.task import JobSettings
    from headdb.zoo import ZOO, build

    t = time.perf_counter()
    directory = build(ZOO[NAME], log=print)
    print(f"{NAME}: {directory} ({time.perf_counter() - t:.1f} s to build or find)")
    tasks = parse_spec(str(directory), all_checkpoints=True, name=NAME)
    detectors = None if args.detectors == "all" else tuple(args.detectors.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'sweep.sqlite'}"
        db = HeadDB(url)
        db.upgrade()
        settings = JobSettings(url=url, detectors=detectors)
        for label in ("first sweep", "same sweep again"):
            options = SweepOptions(executor="local", max_parallel=args.max_parallel, log_dir=Path(tmp) / label.replace(" ", "-"))
            report = run_sweep(tasks, settings, options, log=lambda line: None)
            job_s = sum((j.result or {}).get("seconds", 0.0) for j in report.jobs)
            print(f"{label}: {len(tasks)} checkpoints, {', '.join(detectors or ['all detectors'])}, local executor, "
                  f"at most {args.max_parallel} at a time: {report.wall_s:.1f} s wall "
                  f"(jobs' own time {job_s:.1f} s); {report.summary().split(' (')[0]}")
        training = db.training(NAME, "induction")
        firsts = sorted((f.first_step, f.coordinate) for f in training.first_labels if f.first_step is not None)
        print("induction labels first hold at: " + (", ".join(f"{c} from step {s:,}" for s, c in firsts) or "no step"))
        db.engine.dispose()


if __name__ == "__main__":
    main()
