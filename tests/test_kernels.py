"""The pure scoring kernels, on hand-made tensors."""

from __future__ import annotations

import torch

from headdb.detectors import kernels


def test_gather_and_mean_attention() -> None:
    pattern = torch.zeros(2, 3, 4, 4)  # [n, h, q, k]
    pattern[0, :, 2, 1] = 0.7
    pattern[1, :, 3, 2] = 0.2
    query = torch.tensor([[2], [3]])
    key = torch.tensor([[1], [2]])
    assert kernels.gather_attention(pattern, query, key).shape == (2, 1, 3)
    assert torch.allclose(kernels.mean_attention_to(pattern, query, key), torch.tensor([[0.7] * 3, [0.2] * 3]))


def test_span_mass() -> None:
    rows = torch.tensor([[[0.1, 0.2, 0.3, 0.4]]])  # [n=1, h=1, k=4]
    mask = torch.tensor([[False, True, True, False]])
    assert torch.allclose(kernels.span_mass(rows, mask), torch.tensor([[0.5]]))


def test_copying_score_signs() -> None:
    eye = torch.eye(4)[None]
    assert torch.allclose(kernels.copying_score(eye), torch.tensor([1.0]))
    assert torch.allclose(kernels.copying_score(-eye), torch.tensor([-1.0]))
    rotation = torch.tensor([[[0.0, -1.0], [1.0, 0.0]]])  # eigenvalues +-i: no net copying
    assert abs(float(kernels.copying_score(rotation))) < 1e-6


def test_rank_and_top_k() -> None:
    logits = torch.tensor([[[0.1, 0.9, 0.5], [0.9, 0.1, 0.5]]])  # [n=1, h=2, v=3]
    assert kernels.rank_of(logits, torch.tensor([1])).tolist() == [[0, 2]]
    assert kernels.rank_of(logits, torch.tensor([1]), negated=True).tolist() == [[2, 0]]
    top1, top3 = logits.topk(1, dim=-1).indices, logits.topk(3, dim=-1).indices
    assert kernels.any_in_top(top1, torch.tensor([[1, -1]])).tolist() == [[True, False]]
    assert kernels.any_in_top(top3, torch.tensor([[-1, -1]])).tolist() == [[False, False]]


def test_succession_accuracy() -> None:
    # two sets: tokens 0,1,2 (set 0) and 3,4 (set 1); pairs 0->1, 1->2, 3->4
    member_set = torch.tensor([0, 0, 0, 1, 1])
    src, dst = torch.tensor([0, 1, 3]), torch.tensor([1, 2, 4])
    logits = torch.full((5, 2, 5), 0.0)
    for s, d in zip(src.tolist(), dst.tolist(), strict=True):
        logits[s, 0, d] = 1.0  # head 0 always increments
        logits[s, 1, s] = 1.0  # head 1 copies
    logits[0, 0, 4] = 5.0  # a higher logit outside token 0's set must not count
    assert kernels.succession_accuracy(logits, member_set, src, dst).tolist() == [1.0, 0.0]


def test_ranks_are_a_permutation_best_first() -> None:
    scores = torch.tensor([[0.1, 0.9], [0.5, float("nan")]])
    assert kernels.ranks(scores).tolist() == [[3, 1], [2, 4]]


def test_mean_and_stderr() -> None:
    mean, se = kernels.mean_and_stderr(torch.tensor([[1.0], [3.0]]))
    assert mean.tolist() == [2.0] and abs(float(se) - 1.0) < 1e-6
