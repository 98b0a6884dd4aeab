"""Detector results written straight into a database, for query, training and site tests that
need runs but not the cost of running detectors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from headdb import HeadDB
from headdb.catalog.ingest import add_missing_head_types
from headdb.db.engine import write_session
from headdb.db.models import DetectorRun, Head, HeadLabel, HeadScore, HeadType, Model
from headdb.detectors import REGISTRY

DETECTOR_OF = {"induction": "induction", "previous-token": "previous-token", "successor": "successor",
               "duplicate-token": "duplicate-token"}


def add_results(
    db: HeadDB,
    name: str,
    scores: Mapping[str, list[list[float]]],
    *,
    revision: str = "",
    step: int | None = None,
    threshold: float = 0.5,
) -> None:
    """Store ``name@revision`` with one succeeded run per head type in ``scores`` (a layer x head
    grid each); heads scoring above ``threshold`` are labelled."""
    now = dt.datetime(2025, 1, 1)
    with write_session(db.engine) as s:
        add_missing_head_types(s, set(scores))
        first = next(iter(scores.values()))
        model = s.query(Model).filter_by(name=name, revision=revision).one_or_none()
        if model is None:
            model = Model(name=name, revision=revision, step=step, n_layers=len(first), n_heads=len(first[0]),
                          source_kind="local")
            model.heads = [Head(layer=l, head=h) for l in range(len(first)) for h in range(len(first[0]))]
            s.add(model)
            s.flush()
        heads = {(h.layer, h.head): h for h in model.heads}
        for slug, grid in scores.items():
            head_type = s.query(HeadType).filter_by(slug=slug).one()
            detector = DETECTOR_OF.get(slug, slug)
            # The registered detector's current version, as a real run would store it.
            version = REGISTRY[detector].metadata.version if detector in REGISTRY else "2.0"
            run = DetectorRun(model=model, detector=detector, detector_version=version, config={},
                              config_fingerprint="c" * 64, data_fingerprint="d" * 64, library_versions={},
                              device="cpu", dtype="float32", started_at=now, finished_at=now, duration_s=1.0,
                              status="succeeded")
            s.add(run)
            s.flush()
            flat = sorted(((v, k) for k, v in _cells(grid)), key=lambda x: -x[0])
            rank = {k: i + 1 for i, (_, k) in enumerate(flat)}
            for key, value in _cells(grid):
                s.add(HeadScore(run_id=run.id, head_type_id=head_type.id, head_id=heads[key].id, score=value,
                                rank=rank[key], components={}))
                if value > threshold:
                    s.add(HeadLabel(run_id=run.id, head_type_id=head_type.id, head_id=heads[key].id, score=value))


def _cells(grid: list[list[float]]) -> list[tuple[tuple[int, int], float]]:
    return [((l, h), v) for l, row in enumerate(grid) for h, v in enumerate(row)]
