"""Run every benchmark in bench/ in one go, each in its own process, and print their output.

    .venv/bin/python bench/run_all.py [--only queries,sweep] [--postgres-url URL]

``--postgres-url`` (or $HEADDB_BENCH_POSTGRES_URL) is handed to bench_queries.py, which then also
measures PostgreSQL (the database must be empty; it is emptied again afterwards).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated benchmark names (the part after bench_), default: all")
    parser.add_argument("--postgres-url", default=os.environ.get("HEADDB_BENCH_POSTGRES_URL"))
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        wanted = {f"bench_{n.strip()}.py" for n in args.only.split(",")}
        scripts = [s for s in scripts if s.name in wanted]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")])))
    if args.postgres_url:
        env["HEADDB_BENCH_POSTGRES_URL"] = args.postgres_url
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)], env=env)
        print(f"== {script.name}: {'ok' if code == 0 else f'exit {code}'} ({time.perf_counter() - started:.0f} s)\n", flush=True)
        if code:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
