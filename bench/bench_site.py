"""Benchmark: site build time for the real catalog, for a synthetic catalog of 2,000 papers and
50 models (12 x 12 heads each, every head type scored), and for that catalog plus one more model
scored at ``--training-steps`` training checkpoints (its Training page), printed in seconds and
per page.

    .venv/bin/python bench/bench_site.py [--papers 2000] [--models 50] [--training-steps 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def synthetic_catalog(db, n_papers: int, n_models: int, seed: int = 0, steps: int = 0) -> None:  # type: ignore[no-untyped-def]
    """Add papers, models, claims and detector results straight through the ORM; with ``steps``,
    only one model, scored at that many training checkpoints (and no papers)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from headdb.db.models import (
        Claim, DetectorRun, Head, HeadLabel, HeadScore, HeadType, Model, Paper, PaperHeadType, PaperLink,
    )
    from headdb.detectors import REGISTRY

    rng = random.Random(seed)
    words = "attention head circuit induction memory retrieval copy layer token model language reasoning".split()
    now = dt.datetime(2025, 1, 1)
    with Session(db.engine) as s, s.begin():
        types = list(s.scalars(select(HeadType)))
        by_slug = {t.slug: t for t in types}
        models = []
        for m in range(steps or n_models):
            identity = {"name": "synthetic/trained", "revision": f"step{1000 * (m + 1)}", "step": 1000 * (m + 1)} if steps \
                else {"name": f"synthetic/model-{m:02d}"}
            model = Model(**identity, family="synthetic", architecture="GPT2LMHeadModel",
                          n_layers=12, n_heads=12, n_kv_heads=12, d_model=768, d_head=64, d_vocab=50257)
            model.heads = [Head(layer=l, head=h) for l in range(12) for h in range(12)]
            s.add(model)
            models.append(model)
        s.flush()
        for model in models:
            for name, cls in REGISTRY.items():
                run = DetectorRun(model=model, detector=name, detector_version=cls.metadata.version, config={},
                                  config_fingerprint="0" * 64, data_fingerprint="0" * 64, library_versions={},
                                  device="cpu", dtype="float32", started_at=now, finished_at=now, duration_s=1.0,
                                  status="succeeded")
                s.add(run)
                for slug in cls.metadata.head_types:
                    values = [rng.random() ** 3 for _ in model.heads]
                    order = sorted(range(len(values)), key=lambda i: -values[i])
                    rank = {i: r + 1 for r, i in enumerate(order)}
                    for i, head in enumerate(model.heads):
                        s.add(HeadScore(run=run, head_type=by_slug[slug], head=head, score=values[i], rank=rank[i], components={}))
                        if values[i] > 0.6:
                            s.add(HeadLabel(run=run, head_type=by_slug[slug], head=head, score=values[i]))
        s.flush()
        for p in range(n_papers):
            title = f"Synthetic paper {p}: " + " ".join(rng.sample(words, 5))
            paper = Paper(slug=f"synthetic-{p:05d}", title=title, published_date=dt.date(2018 + p % 8, 1 + p % 12, 1 + p % 28), published_in="arXiv",
                          venue=rng.choice([None, "ICLR 2024", "NeurIPS 2023", "ACL 2024"]), authors=["A. Author"],
                          innovation=" ".join(rng.choices(words, k=20)), tasks=" ".join(rng.choices(words, k=15)),
                          significant_result=" ".join(rng.choices(words, k=15)), source_file="synthetic", content_hash="0")
            paper.links = [PaperLink(url=f"https://example.org/{p}", kind="paper")]
            chosen = rng.sample(types, 2)
            paper.head_type_links = [PaperHeadType(head_type=t, position=i) for i, t in enumerate(chosen)]
            model = rng.choice(models)
            paper.claims = [Claim(head=rng.choice(model.heads), head_type=chosen[0], source="synthetic", confidence="high")]
            s.add(paper)


def timed_build(db, root: Path, label: str) -> None:  # type: ignore[no-untyped-def]
    from headdb.site.build import build_site

    t = time.perf_counter()
    site = build_site(db, root / f"{label}-site", staging=root / f"{label}-src")
    seconds = time.perf_counter() - t
    pages = sum(1 for _ in site.rglob("index.html"))
    svgs = sum(1 for _ in (root / f"{label}-src" / "docs").rglob("*.svg"))
    print(f"{label}: {pages} pages, {svgs} heatmaps, {seconds:.1f} s, {1000 * seconds / pages:.1f} ms per page")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--training-steps", type=int, default=20, help="checkpoints of the extra trained model (0: none)")
    args = parser.parse_args()

    from headdb import HeadDB

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        real = HeadDB(f"sqlite:///{root / 'real.sqlite'}")
        real.upgrade()
        real.ingest(REPO / "papers")
        timed_build(real, root, "real catalog")

        synthetic = HeadDB(f"sqlite:///{root / 'synthetic.sqlite'}")
        synthetic.upgrade()
        synthetic.ingest(REPO / "papers")
        t = time.perf_counter()
        synthetic_catalog(synthetic, args.papers, args.models)
        print(f"(synthetic data: {args.papers} papers + {args.models} models written in {time.perf_counter() - t:.1f} s)")
        timed_build(synthetic, root, f"synthetic catalog ({args.papers} papers, {args.models} models)")
        if args.training_steps:
            synthetic_catalog(synthetic, 0, 0, seed=1, steps=args.training_steps)
            timed_build(synthetic, root, f"the same plus one model at {args.training_steps} training steps")


if __name__ == "__main__":
    main()
