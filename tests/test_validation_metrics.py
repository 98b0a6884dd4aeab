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


def test_a_shortfall_explains_itself_from_the_stored_checks_and_effects() -> None:
    from headdb.validation.report import explain

    role = {"positives": ["1.0", "1.1"], "negatives": ["0.0", "0.1"], "ambiguous": [],
            "tests": [{"sign": 1, "effects": {"1.0": 0.064, "1.1": 0.2, "0.0": 0.001, "0.1": 0.01}}]}
    truth = Truth.from_roles(role, 2, 2)
    labels = torch.tensor([[True, False], [False, True]])  # 0.0 (a negative) and 1.1 labelled, 1.0 missed
    m = evaluate(torch.tensor([[0.6, 0.0], [0.1, 0.9]]), labels, torch.tensor([[2, 4], [3, 1]]), truth)
    components = {"1.0": {"q_value": 0.998, "prefix_matching_ci_low": 0.0016}, "1.1": {"q_value": 0.001}}
    note = explain("induction", "induction", m, role, components)
    assert note == ("missed 1.0 (rank 3, ground-truth effect 6.4% of the gap): q_value 0.998 (needs < 0.05), "
                    "prefix_matching_ci_low 0.0016 (needs > 0.5); labelled negative 0.0 (ground-truth effect 0.1% of the gap)")
    perfect = evaluate(torch.eye(2), torch.eye(2, dtype=torch.bool), torch.ones(2, 2, dtype=torch.long),
                       Truth.from_roles({"positives": ["0.0", "1.1"], "negatives": "all"}, 2, 2))
    assert explain("induction", "induction", perfect, {"negatives": "all"}, {}) == ""
    backed = {**role, "backups": [{"head": "1.0", "contrast": "copy", "effect_with_positives_patched": 0.269}]}
    assert explain("induction", "induction", m, backed, components).startswith(
        "missed 1.0 (rank 3, ground-truth effect 6.4% of the gap, 26.9% with the other positives patched (a backup)): ")


def test_heads_the_source_test_moved_to_ambiguous_are_named_in_the_note() -> None:
    from headdb.validation.report import explain

    role = {"positives": [], "negatives": ["0.0", "0.1"], "ambiguous": ["1.0", "1.1"],
            "source_positions": {"at_source": {"1.0": 0.0, "1.1": -0.001}, "one_past_source": {"1.0": 0.41, "1.1": 0.25},
                                 "moved_to_ambiguous": ["1.0", "1.1"]}}
    truth = Truth.from_roles(role, 2, 2)
    m = evaluate(torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.bool), torch.ones(2, 2, dtype=torch.long), truth)
    assert explain("induction", "induction", m, role, {}) == (
        "ambiguous 1.0: plays the role but reads elsewhere (its knocked-out edges to the source restore 0.0% "
        "of the gap, one position on 41.0%); ambiguous 1.1: plays the role but reads elsewhere (its knocked-out "
        "edges to the source restore -0.1% of the gap, one position on 25.0%)")
