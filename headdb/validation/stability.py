"""Label stability on a real model: do the labels survive another seed and another token pool?

The target comparison runs every registered detector twice, with seed 0 drawing random tokens
from one half of the model's default pool and seed 1 drawing from the other half, so the two runs
share no random token. Beside it, sensitivity runs restrict the pool to one token class (tokens
that begin a word, or tokens inside a word): they show which labels depend on the kind of token a
head sees, and are reported, not held to the target. A detector that cannot run in a variant (its
pool is too small, say) is listed with its reason; two runs that did not run the same detectors
are not comparable and do not meet the target.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headdb import stats
from headdb.detectors import REGISTRY, ModelContext
from headdb.jobs.loading import load_model

STABILITY_TARGET = 0.8  # the bar for Jaccard agreement between two calibrated runs

TARGET_RUNS = ((0, "half-1"), (1, "half-2"))
SENSITIVITY_RUNS = ((0, "word-start"), (0, "word-inner"))


@dataclass(frozen=True)
class LabelSet:
    """What one variant of the detectors labelled, and which detectors could not run."""

    run: str
    labels: frozenset[str]  # "head-type layer.head"
    skipped: dict[str, str]  # detector -> reason


def _variant(config: Any, seed: int, pool: str) -> Any:
    """``config`` with another seed and (where it has one) another random-token pool."""
    names = {f.name for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    if "seed" in names:
        changes["seed"] = seed
    if "pool" in names:
        changes["pool"] = pool
    return dataclasses.replace(config, **changes)


def label_set(ctx: ModelContext, seed: int, pool: str) -> LabelSet:
    """Every label all registered detectors give with configs varied by ``seed`` and ``pool``
    (computed only, nothing stored)."""
    labels: set[str] = set()
    skipped: dict[str, str] = {}
    for name, cls in sorted(REGISTRY.items()):
        detector = cls(_variant(cls.Config(), seed, pool))
        reason = detector.applicable(ctx)
        if reason is not None:
            skipped[name] = reason
            continue
        for result in detector.score(ctx):
            labels |= {f"{result.head_type} {l}.{h}" for l, h in result.labelled()}
    return LabelSet(f"seed {seed}, pool {pool}", frozenset(labels), skipped)


def _describe(s: LabelSet) -> dict[str, Any]:
    return {"run": s.run, "labels": sorted(s.labels), "skipped": dict(s.skipped)}


def compare(a: LabelSet, b: LabelSet) -> dict[str, Any]:
    """Jaccard index of two label sets; comparable only when the same detectors ran in both."""
    comparable = set(a.skipped) == set(b.skipped)
    value = stats.jaccard(set(a.labels), set(b.labels))
    return {"jaccard": round(value, 4), "comparable": comparable,
            "only_first": sorted(a.labels - b.labels), "only_second": sorted(b.labels - a.labels)}


def stability(model_dir: Path, name: str) -> dict[str, Any]:
    """The stability entry of the validation report for one model (keyed by ``name``)."""
    loaded = load_model(str(model_dir), name=name)
    ctx = ModelContext(loaded.bridge, probes=loaded.probes)
    first, second = (label_set(ctx, seed, pool) for seed, pool in TARGET_RUNS)
    target = compare(first, second)
    sensitivity = []
    for seed, pool in SENSITIVITY_RUNS:
        other = label_set(ctx, seed, pool)
        sensitivity.append({**_describe(other), **compare(first, other)})
    return {name: {
        "runs": [first.run, second.run], "labels_a": sorted(first.labels), "labels_b": sorted(second.labels),
        "skipped_a": first.skipped, "skipped_b": second.skipped, **target, "target": STABILITY_TARGET,
        "meets_target": target["comparable"] and target["jaccard"] >= STABILITY_TARGET,
        "sensitivity": sensitivity,
    }}
