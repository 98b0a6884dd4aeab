"""The detector validation report: every detector on every zoo model, against its ground truth.

Each zoo model is built (or taken from the cache), loaded like any model and run through the
ordinary detector job (so its runs are stored with full provenance); then the stored scores and
labels are compared with the model's ground-truth file, which only this module reads. When the
real pretrained stories260K is available, label stability is measured on it too (see
``headdb.validation.stability``).
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

from headdb.api import HeadDB
from headdb.db.engine import write_session
from headdb.db.models import DetectorRun, Head, HeadLabel, HeadScore, HeadType, ValidationResult, ValidationRun
from headdb.detectors import REGISTRY
from headdb.jobs.loading import load_model
from headdb.jobs.runner import library_versions, run_detectors
from headdb.validation.metrics import Metrics, Truth, evaluate
from headdb.validation.stability import stability
from headdb.zoo.registry import ZooSpec, build, read_ground_truth


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


def _effect_text(role: dict[str, Any], coord: str) -> str:
    """The head's largest signed causal effect in the ground truth's tests, if it has tests."""
    effects = [t["sign"] * t["effects"][coord] for t in role.get("tests", []) if coord in t.get("effects", {})]
    text = f"ground-truth effect {max(effects):.1%} of the gap" if effects else ""
    backups = [b["effect_with_positives_patched"] for b in role.get("backups", []) if b["head"] == coord]
    if backups:
        text += f", {max(backups):.1%} with the other positives patched (a backup)"
    return text


def explain(detector: str, head_type: str, metrics: Metrics, role: dict[str, Any],
            components: dict[str, dict[str, float]]) -> str:
    """Why each true head was missed (the label checks it failed, with their values) and which
    ground-truth negatives were labelled: read from the stored scores, so a shortfall explains
    itself in the report."""
    checks = REGISTRY[detector].checks(REGISTRY[detector].Config()).get(head_type, [])
    parts: list[str] = []
    for coord, rank in metrics.true_head_ranks.items():
        if coord in metrics.labelled:
            continue
        values = components.get(coord, {})
        failed = [f"{c.component} {values[c.component]:.3g} (needs {c.op} {c.threshold:g})"
                  for c in checks if c.component in values and not bool(c.holds({c.component: torch.tensor(values[c.component])}))]
        why = ", ".join(failed) if failed else "no stored check value explains it"
        effect = _effect_text(role, coord)
        parts.append(f"missed {coord} (rank {rank}{', ' + effect if effect else ''}): {why}")
    negatives = role.get("negatives", [])
    listed = negatives if isinstance(negatives, list) else []
    for coord in metrics.labelled:
        if coord in listed or (negatives == "all" and coord not in metrics.true_head_ranks
                               and coord not in role.get("ambiguous", [])):
            effect = _effect_text(role, coord)
            parts.append(f"labelled negative {coord}{f' ({effect})' if effect else ''}")
    source = role.get("source_positions", {})
    for coord in source.get("moved_to_ambiguous", []):
        at, past = (round(source[k][coord], 3) + 0.0 for k in ("at_source", "one_past_source"))  # no "-0.0%"
        parts.append(f"ambiguous {coord}: plays the role but reads elsewhere (its knocked-out edges to "
                     f"the source restore {at:.1%} of the gap, one position on {past:.1%})")
    return "; ".join(parts)


def _grids(session: Session, run_id: int, head_type: str, n_layers: int, n_heads: int
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, dict[str, float]]]:
    """A run's stored scores, labels and ranks for one head type as [layers, heads] grids, and each
    head's score components ("layer.head" -> name -> value)."""
    scores = torch.full((n_layers, n_heads), float("nan"))
    ranks = torch.zeros(n_layers, n_heads, dtype=torch.long)
    labels = torch.zeros(n_layers, n_heads, dtype=torch.bool)
    components: dict[str, dict[str, float]] = {}
    type_id = session.scalar(select(HeadType.id).where(HeadType.slug == head_type))
    for layer, head, score, rank, stored in session.execute(
        select(Head.layer, Head.head, HeadScore.score, HeadScore.rank, HeadScore.components)
        .join(HeadScore, HeadScore.head_id == Head.id)
        .where(HeadScore.run_id == run_id, HeadScore.head_type_id == type_id)
    ):
        scores[layer, head], ranks[layer, head] = score, rank
        components[f"{layer}.{head}"] = dict(stored or {})
    for layer, head in session.execute(
        select(Head.layer, Head.head).join(HeadLabel, HeadLabel.head_id == Head.id)
        .where(HeadLabel.run_id == run_id, HeadLabel.head_type_id == type_id)
    ):
        labels[layer, head] = True
    return scores, labels, ranks, components


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
                scores, labels, ranks, components = _grids(session, run.id, head_type, n_layers, n_heads)
                metrics = evaluate(scores, labels, ranks, truth)
                note = explain(outcome.detector, head_type, metrics, role, components)
                rows.append(Row(spec.name, spec.kind, outcome.detector, run.detector_version, head_type, metrics,
                                run.id, note))
    return rows


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
