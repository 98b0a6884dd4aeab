"""The detector validation report: every detector on every zoo model, against its ground truth.

Each zoo model is built (or taken from the cache), loaded like any model and run through the
ordinary detector job (so its runs are stored with full provenance); then the stored scores and
labels are compared with the model's ground-truth file, which only this module reads. When the
real pretrained stories260K is available, label stability is measured on it too: all detectors
again with another seed and another random-token pool, and the Jaccard index of the label sets.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from sqlalchemy import select
from sqlalchemy.orm import Session

from headdb import stats
from headdb.api import HeadDB
from headdb.db.engine import write_session
from headdb.db.models import DetectorRun, Head, HeadLabel, HeadScore, HeadType, ValidationResult, ValidationRun
from headdb.detectors import REGISTRY, ModelContext
from headdb.jobs.loading import load_model
from headdb.jobs.runner import library_versions, run_detectors
from headdb.validation.metrics import Metrics, Truth, evaluate
from headdb.zoo.registry import ZooSpec, build, read_ground_truth

STABILITY_TARGET = 0.8  # the bar for Jaccard agreement between two calibrated runs


@dataclass
class Row:
    model: str
    model_kind: str
    detector: str
    detector_version: str
    head_type: str
    metrics: Metrics
    detector_run_id: int | None
    note: str = ""


@dataclass
class Report:
    run_id: int | None
    subset: str
    rows: list[Row]
    zoo: dict[str, str]
    stability: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0


def _grids(session: Session, run_id: int, head_type: str, n_layers: int, n_heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    scores = torch.full((n_layers, n_heads), float("nan"))
    ranks = torch.zeros(n_layers, n_heads, dtype=torch.long)
    labels = torch.zeros(n_layers, n_heads, dtype=torch.bool)
    type_id = session.scalar(select(HeadType.id).where(HeadType.slug == head_type))
    for layer, head, score, rank in session.execute(
        select(Head.layer, Head.head, HeadScore.score, HeadScore.rank)
        .join(HeadScore, HeadScore.head_id == Head.id)
        .where(HeadScore.run_id == run_id, HeadScore.head_type_id == type_id)
    ):
        scores[layer, head], ranks[layer, head] = score, rank
    for layer, head in session.execute(
        select(Head.layer, Head.head).join(HeadLabel, HeadLabel.head_id == Head.id)
        .where(HeadLabel.run_id == run_id, HeadLabel.head_type_id == type_id)
    ):
        labels[layer, head] = True
    return scores, labels, ranks


def _note(spec: ZooSpec, truth_file: dict[str, Any], head_type: str) -> str:
    """Why a trained model has no ground truth for a type its tasks should produce, if so."""
    roles = truth_file.get("roles", {})
    if head_type in roles:
        return ""
    unsolved = [name for name, c in truth_file.get("contrasts", {}).items() if not c.get("solved", True)]
    return f"task not solved ({', '.join(unsolved)}): no ground truth" if unsolved else ""


def validate_model(db: HeadDB, spec: ZooSpec, directory: Path, detectors: Sequence[str] | None) -> list[Row]:
    truth_file = read_ground_truth(directory)
    loaded = load_model(str(directory), name=spec.name)
    # Every registered detector, the circuit-defined ones included (they are opt-in elsewhere).
    outcomes = run_detectors(db, loaded, list(detectors) if detectors else sorted(REGISTRY))
    rows: list[Row] = []
    with Session(db.engine) as session:
        for outcome in outcomes:
            if outcome.run_id is None:
                continue
            run = session.get(DetectorRun, outcome.run_id)
            assert run is not None
            n_layers, n_heads = run.model.n_layers or 0, run.model.n_heads or 0
            for head_type in REGISTRY[outcome.detector].metadata.head_types:
                role = truth_file["roles"].get(head_type)
                if role is None:
                    continue
                truth = Truth.from_roles(role, n_layers, n_heads)
                scores, labels, ranks = _grids(session, run.id, head_type, n_layers, n_heads)
                rows.append(Row(spec.name, spec.kind, outcome.detector, run.detector_version, head_type,
                                evaluate(scores, labels, ranks, truth), run.id, _note(spec, truth_file, head_type)))
    return rows


def _variant(config: Any, seed: int, pool: str) -> Any:
    """``config`` with another seed and (where it has one) another random-token pool."""
    names = {f.name for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    if "seed" in names:
        changes["seed"] = seed
    if "pool" in names:
        changes["pool"] = pool
    return dataclasses.replace(config, **changes)


def label_set(ctx: ModelContext, seed: int, pool: str) -> set[tuple[str, int, int]]:
    """Every label all detectors give, with configs varied by ``seed`` and ``pool`` (computed only)."""
    labels: set[tuple[str, int, int]] = set()
    for cls in REGISTRY.values():
        detector = cls(_variant(cls.Config(), seed, pool))
        if detector.applicable(ctx) is None:
            for result in detector.score(ctx):
                labels |= {(result.head_type, l, h) for l, h in result.labelled()}
    return labels


def stability(model_dir: Path, name: str) -> dict[str, Any]:
    """Label stability on a real model: default configs against seed 1 with the word-start pool."""
    loaded = load_model(str(model_dir), name=name)
    a = label_set(ModelContext(loaded.bridge, probes=loaded.probes), 0, "default")
    b = label_set(ModelContext(loaded.bridge, probes=loaded.probes), 1, "word-start")
    fmt = sorted(f"{t} {l}.{h}" for t, l, h in a)
    fmt_b = sorted(f"{t} {l}.{h}" for t, l, h in b)
    value = stats.jaccard(set(fmt), set(fmt_b))
    return {name: {"runs": ["seed 0, pool default", "seed 1, pool word-start"], "labels_a": fmt, "labels_b": fmt_b,
                   "jaccard": round(value, 4), "target": STABILITY_TARGET, "meets_target": value >= STABILITY_TARGET}}


def validate_detectors(
    db: HeadDB,
    specs: Sequence[ZooSpec],
    *,
    subset: str = "custom",
    cache: Path | None = None,
    detectors: Sequence[str] | None = None,
    stories: Path | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> Report:
    """Build the zoo models, run the detectors on them, compare with ground truth, and store the
    report (a ``ValidationRun`` with its ``ValidationResult`` rows)."""
    db.upgrade()
    started, t0 = dt.datetime.now(dt.UTC).replace(tzinfo=None), time.perf_counter()
    rows: list[Row] = []
    zoo: dict[str, str] = {}
    for spec in specs:
        directory = build(spec, cache, log)
        zoo[spec.name] = spec.fingerprint()
        log(f"{spec.name}: running detectors")
        rows += validate_model(db, spec, directory, detectors)
    found = stability(stories, "stories260K") if stories is not None and (stories / "config.json").exists() else {}
    report = Report(None, subset, rows, zoo, found, time.perf_counter() - t0)
    with write_session(db.engine) as session:
        run = ValidationRun(subset=subset, zoo=zoo, started_at=started, duration_s=report.duration_s,
                            detector_versions={n: c.metadata.version for n, c in REGISTRY.items()},
                            library_versions=library_versions(), stability=found)
        run.results.extend(
            ValidationResult(
                model=r.model, model_kind=r.model_kind, detector=r.detector, detector_version=r.detector_version,
                head_type=r.head_type, detector_run_id=r.detector_run_id, note=r.note,
                **{k: v for k, v in dataclasses.asdict(r.metrics).items()},
            )
            for r in rows
        )
        session.add(run)
        session.flush()
        report.run_id = run.id
    return report
