"""Benchmark: ``HeadDB.labels(model, head_type)`` latency at a million labels, on SQLite and (when a
URL is given) PostgreSQL.

The database holds the real catalog plus a synthetic sweep: ``--models`` models of 12 x 12 heads,
one succeeded run of each registered detector per model, a score for every head and head type and
a label on every one of them (800 models: 1,152,000 labels and as many scores), written with bulk
inserts (PostgreSQL: COPY). Each query asks for one random model and head type, naming the head
type by slug, name or alias at random; p50 and p95 are over ``--queries`` calls after a warm-up.

    .venv/bin/python bench/bench_queries.py [--models 800] [--queries 2000]
        [--postgres-url postgresql+psycopg://user:pass@host/db]   # or $HEADDB_BENCH_POSTGRES_URL

The PostgreSQL database must be empty (it is filled, then emptied again); ``--reset-postgres``
first drops everything in its public schema.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

N_LAYERS = N_HEADS = 12
CHUNK = 50_000


def _detectors() -> dict[str, tuple[str, tuple[str, ...]]]:
    from headdb.detectors import REGISTRY

    return {name: (cls.metadata.version, tuple(cls.metadata.head_types)) for name, cls in sorted(REGISTRY.items())}


def _rows(n_models: int, types: dict[str, int], seed: int = 0) -> dict[str, object]:
    """Row generators for every table, with explicit ids (the database is empty but for the catalog)."""
    rng = random.Random(seed)
    detectors = _detectors()
    now = dt.datetime(2025, 1, 1)
    n = N_LAYERS * N_HEADS

    from headdb.db.models import model_name_key

    def models() -> Iterator[tuple]:
        for m in range(n_models):
            name = f"bench/model-{m:04d}"
            yield (100_000 + m, name, model_name_key(name), "", "local", "GPT2LMHeadModel", N_LAYERS, N_HEADS,
                   N_HEADS, 768, 64, 50257, "")

    def heads() -> Iterator[tuple]:
        for m in range(n_models):
            for i in range(n):
                yield (100_000 * n + m * n + i, 100_000 + m, i // N_HEADS, i % N_HEADS)

    run_ids = {(m, d): 100_000 + m * len(detectors) + k for m in range(n_models) for k, d in enumerate(detectors)}

    def runs() -> Iterator[tuple]:
        for (m, d), run_id in run_ids.items():
            yield (run_id, 100_000 + m, d, detectors[d][0], "{}", "0" * 64, "0" * 64, "0" * 64, "{}", "cpu",
                   "float32", now, now, 1.0, "succeeded")

    def scores_and_labels(labels: bool) -> Iterator[tuple]:
        for (m, d), run_id in run_ids.items():
            for slug in detectors[d][1]:
                values = [rng.random() for _ in range(n)]
                order = sorted(range(n), key=lambda i: -values[i])
                rank = {i: r + 1 for r, i in enumerate(order)}
                for i in range(n):
                    head_id = 100_000 * n + m * n + i
                    if labels:
                        yield (run_id, types[slug], head_id, values[i])
                    else:
                        yield (run_id, types[slug], head_id, values[i], rank[i])

    return {
        "models": (("id", "name", "name_key", "revision", "source_kind", "architecture", "n_layers", "n_heads",
                    "n_kv_heads", "d_model", "d_head", "d_vocab", "description"), models),
        "heads": (("id", "model_id", "layer", "head"), heads),
        "detector_runs": (("id", "model_id", "detector", "detector_version", "config", "config_fingerprint",
                           "data_fingerprint", "weights_fingerprint", "library_versions", "device", "dtype",
                           "started_at", "finished_at", "duration_s", "status"), runs),
        "head_scores": (("run_id", "head_type_id", "head_id", "score", "rank"), lambda: scores_and_labels(False)),
        "head_labels": (("run_id", "head_type_id", "head_id", "score"), lambda: scores_and_labels(True)),
    }


def _chunks(rows: Iterator[tuple]) -> Iterator[list[tuple]]:
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def fill(db, n_models: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Bulk-insert the synthetic sweep; returns row counts per table."""
    from sqlalchemy import select, text
    from sqlalchemy.orm import Session

    from headdb.db.models import HeadType

    with Session(db.engine) as s:
        types = {slug: id_ for id_, slug in s.execute(select(HeadType.id, HeadType.slug))}
    counts: dict[str, int] = {}
    postgres = db.engine.dialect.name == "postgresql"
    with db.engine.begin() as conn:
        for table, (columns, make) in _rows(n_models, types).items():
            n = 0
            if postgres:
                cursor = conn.connection.dbapi_connection.cursor()
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in make():
                        copy.write_row(row)
                        n += 1
            else:
                statement = text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})")
                for chunk in _chunks(make()):
                    conn.execute(statement, [dict(zip(columns, row)) for row in chunk])
                    n += len(chunk)
            counts[table] = n
        if postgres:
            for table in ("models", "heads", "detector_runs"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
            conn.execute(text("ANALYZE"))
    if not postgres:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    return counts


def measure(db, n_models: int, n_queries: int, seed: int = 1) -> dict[str, float]:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    spellings = {}
    for info in db.head_types():
        if info.slug in {t for _, ts in _detectors().values() for t in ts}:
            spellings[info.slug] = [info.slug, info.name, *info.aliases]
    slugs = sorted(spellings)

    def one() -> tuple[float, int]:
        model = f"bench/model-{rng.randrange(n_models):04d}"
        head_type = rng.choice(spellings[rng.choice(slugs)])
        t = time.perf_counter()
        labels = db.labels(model, head_type)
        return time.perf_counter() - t, len(labels)

    for _ in range(50):
        one()
    times, sizes = zip(*(one() for _ in range(n_queries)))
    ms = sorted(1000 * t for t in times)
    return {"p50": statistics.median(ms), "p95": ms[int(0.95 * (len(ms) - 1))], "rows": statistics.mean(sizes)}


def run(label: str, url: str, n_models: int, n_queries: int) -> None:
    from headdb import HeadDB

    db = HeadDB(url)
    db.upgrade()
    t = time.perf_counter()
    db.ingest(REPO / "papers")
    counts = fill(db, n_models)
    built = time.perf_counter() - t
    print(f"{label}: {counts['head_labels']:,} labels, {counts['head_scores']:,} scores, {counts['models']} models, "
          f"{counts['detector_runs']:,} runs (written in {built:.0f} s)")
    result = measure(db, n_models, n_queries)
    print(f"{label}: labels(model, head_type) over {n_queries} queries ({result['rows']:.0f} labels each): "
          f"p50 {result['p50']:.2f} ms, p95 {result['p95']:.2f} ms")
    db.engine.dispose()


def _reset_postgres(url: str, force: bool) -> None:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    tables = inspect(engine).get_table_names()
    if tables and not force:
        engine.dispose()
        raise SystemExit(f"the PostgreSQL database holds tables ({', '.join(tables[:5])}, ...); give an empty one "
                         "or --reset-postgres to drop its public schema")
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=800)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--postgres-url", default=os.environ.get("HEADDB_BENCH_POSTGRES_URL"))
    parser.add_argument("--reset-postgres", action="store_true", help="drop the PostgreSQL database's public schema first")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{Path(tmp) / 'bench.sqlite'}", args.models, args.queries)
    if args.postgres_url:
        _reset_postgres(args.postgres_url, args.reset_postgres)
        try:
            run("PostgreSQL", args.postgres_url, args.models, args.queries)
        finally:
            _reset_postgres(args.postgres_url, True)
    else:
        print("PostgreSQL: skipped (give --postgres-url or set HEADDB_BENCH_POSTGRES_URL)")


if __name__ == "__main__":
    main()
