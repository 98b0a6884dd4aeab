"""Pure comparison of one detector's output with one model's ground truth, for one head type.

Ground truth splits the heads into positives, negatives and ambiguous ones; ambiguous heads are
left out of precision, recall and AUROC (they count neither for nor against a detector).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from headdb import stats

Coord = tuple[int, int]


def parse(coord: str) -> Coord:
    layer, head = coord.split(".")
    return int(layer), int(head)


@dataclass(frozen=True)
class Truth:
    positives: frozenset[Coord]
    negatives: frozenset[Coord]
    ambiguous: frozenset[Coord] = frozenset()

    @classmethod
    def from_roles(cls, role: dict[str, Any], n_layers: int, n_heads: int) -> Truth:
        """From a ground-truth file's role entry; ``"negatives": "all"`` means every non-positive head."""
        everyone = {(l, h) for l in range(n_layers) for h in range(n_heads)}
        positives = {parse(c) for c in role.get("positives", [])}
        ambiguous = {parse(c) for c in role.get("ambiguous", [])}
        negatives_spec = role.get("negatives", [])
        negatives = everyone - positives - ambiguous if negatives_spec == "all" else {parse(c) for c in negatives_spec}
        return cls(frozenset(positives), frozenset(negatives), frozenset(ambiguous))


@dataclass
class Metrics:
    n_positive: int
    n_negative: int
    n_ambiguous: int
    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float | None
    recall: float | None
    auroc: float | None
    true_head_ranks: dict[str, int] = field(default_factory=dict)
    labelled: list[str] = field(default_factory=list)


def _coord(c: Coord) -> str:
    return f"{c[0]}.{c[1]}"


def evaluate(scores: torch.Tensor, labels: torch.Tensor, ranks: torch.Tensor, truth: Truth) -> Metrics:
    """Precision and recall of ``labels`` [layers, heads] over the non-ambiguous heads, AUROC of
    ``scores`` separating positives from negatives, and the rank of every true head."""
    judged = sorted(truth.positives | truth.negatives)
    predicted = {c for c in judged if bool(labels[c])}
    tp = len(predicted & truth.positives)
    fp = len(predicted & truth.negatives)
    fn = len(truth.positives - predicted)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / len(truth.positives) if truth.positives else None
    values = torch.tensor([float(scores[c]) for c in judged]) if judged else torch.zeros(0)
    is_true = torch.tensor([c in truth.positives for c in judged], dtype=torch.bool)
    auroc = stats.auroc(values.nan_to_num(float("-inf")), is_true) if judged else None
    return Metrics(
        n_positive=len(truth.positives), n_negative=len(truth.negatives), n_ambiguous=len(truth.ambiguous),
        true_positives=tp, false_positives=fp, false_negatives=fn, precision=precision, recall=recall,
        auroc=auroc, true_head_ranks={_coord(c): int(ranks[c]) for c in sorted(truth.positives)},
        labelled=[f"{l}.{h}" for l, h in labels.nonzero().tolist()],
    )
