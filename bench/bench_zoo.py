"""Benchmark: build the ground-truth zoo from nothing, then run the detector validation report on
it, in one run.

Prints each model's build time, the fast subset's and the whole zoo's build time against the
budgets (each model <= 5 min, fast subset <= 3 min, whole zoo <= 15 min on 2 CPU cores), and the
validation run's time (every registered detector on every zoo model, without the stories260K
stability check unless --stability).

    .venv/bin/python bench/bench_zoo.py [--fast] [--stability]

Builds into a fresh temporary cache, so nothing already built is reused.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="only the fast subset")
    parser.add_argument("--stability", action="store_true", help="include the stories260K stability check")
    args = parser.parse_args()

    from headdb import HeadDB
    from headdb.main_job import stories_dir
    from headdb.validation.report import validate_detectors
    from headdb.zoo import build, selected

    specs = selected(fast=args.fast)
    print(f"zoo: {len(specs)} models ({'fast subset' if args.fast else 'all'}), torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "zoo"
        built: dict[str, float] = {}
        for spec in specs:
            t = time.perf_counter()
            build(spec, cache)
            built[spec.name] = time.perf_counter() - t
            print(f"  {spec.name:<22}{built[spec.name]:>8.1f} s  ({spec.kind}{', fast' if spec.fast else ''})")
        fast_total = sum(s for name, s in built.items() if next(x for x in specs if x.name == name).fast)
        total = sum(built.values())
        slowest = max(built, key=built.__getitem__)
        print(f"slowest model: {slowest} {built[slowest]:.1f} s (budget 300 s, ratio {built[slowest] / 300:.2f})")
        print(f"fast subset: {fast_total:.1f} s (budget 180 s, ratio {fast_total / 180:.2f})")
        if not args.fast:
            print(f"whole zoo: {total:.1f} s (budget 900 s, ratio {total / 900:.2f})")

        db = HeadDB(f"sqlite:///{Path(tmp) / 'validation.sqlite'}")
        db.upgrade()
        t = time.perf_counter()
        report = validate_detectors(db, specs, subset="fast" if args.fast else "full", cache=cache,
                                    stories=stories_dir() if args.stability else None)
        seconds = time.perf_counter() - t
        print(f"validation: {len(report.rows)} detector/type/model results in {seconds:.1f} s "
              f"({seconds / len(specs):.1f} s per model)")


if __name__ == "__main__":
    main()
