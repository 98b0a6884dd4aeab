"""Precision, recall, AUROC and ranks of the validation report, with ambiguous heads left out."""

from __future__ import annotations

import pytest
import torch

from headdb.validation.metrics import Truth, evaluate


def test_ambiguous_heads_count_neither_way() -> None:
    truth = Truth.from_roles({"positives": ["0.0", "1.1"], "negatives": "all", "ambiguous": ["0.1"]}, 2, 2)
    assert truth.negatives == {(1, 0)}
    scores = torch.tensor([[0.9, 0.8], [0.1, 0.3]])
    labels = torch.tensor([[True, True], [False, False]])  # 0.1 labelled, but it is ambiguous
    ranks = torch.tensor([[1, 2], [4, 3]])
    m = evaluate(scores, labels, ranks, truth)
    assert (m.true_positives, m.false_positives, m.false_negatives) == (1, 0, 1)
    assert m.precision == 1.0 and m.recall == 0.5
    assert m.auroc == pytest.approx(1.0)
    assert m.true_head_ranks == {"0.0": 1, "1.1": 3} and m.labelled == ["0.0", "0.1"]


def test_controls_have_no_positives() -> None:
    truth = Truth.from_roles({"positives": [], "negatives": "all", "ambiguous": []}, 1, 3)
    m = evaluate(torch.zeros(1, 3), torch.tensor([[False, True, False]]), torch.ones(1, 3, dtype=torch.long), truth)
    assert m.recall is None and m.precision == 0.0 and m.false_positives == 1 and m.auroc is None
