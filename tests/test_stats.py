"""The statistics kernels against reference implementations (scipy, scikit-learn) or naive loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from headdb import stats


def test_t_test_matches_scipy() -> None:
    gen = torch.Generator().manual_seed(0)
    values = torch.randn(20, 3, 4, generator=gen) + torch.linspace(-0.5, 1.0, 12).view(3, 4)
    mean, se, p = stats.one_sample_t_pvalues(values, "greater")
    reference = sps.ttest_1samp(values.numpy(), 0.0, axis=0, alternative="greater")
    assert np.allclose(p.numpy(), reference.pvalue, atol=1e-6)
    assert np.allclose(mean.numpy(), values.mean(0).numpy(), atol=1e-6)
    assert np.allclose(se.numpy(), sps.sem(values.numpy(), axis=0), atol=1e-6)
    _, _, two = stats.one_sample_t_pvalues(values, "two-sided")
    assert np.allclose(two.numpy(), sps.ttest_1samp(values.numpy(), 0.0, axis=0).pvalue, atol=1e-6)


def test_constant_zero_column_gets_p_one() -> None:
    values = torch.zeros(10, 2)
    values[:, 1] = 1.0
    _, _, p = stats.one_sample_t_pvalues(values)
    assert p[0] == 1.0 and p[1] < 1e-6


def test_benjamini_hochberg_matches_scipy() -> None:
    p = torch.tensor([0.001, 0.2, 0.03, 0.04, 0.5, 0.012, 0.9, 0.049])
    assert np.allclose(stats.benjamini_hochberg(p).numpy(), sps.false_discovery_control(p.numpy()), atol=1e-6)


def test_holm_matches_a_naive_loop() -> None:
    p = [0.01, 0.04, 0.03, 0.005, 0.5]
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    naive, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        naive[i] = running
    assert np.allclose(stats.holm(torch.tensor(p)).numpy(), naive, atol=1e-7)


def test_adjust_only_over_tested_heads() -> None:
    p = torch.tensor([0.01, 0.01, 0.01, 0.01])
    tested = torch.tensor([True, True, False, False])
    adjusted = stats.adjust(p, "holm", tested)
    assert adjusted.tolist() == pytest.approx([0.02, 0.02, 1.0, 1.0])
    with pytest.raises(ValueError, match="unknown correction"):
        stats.adjust(p, "bonferroni-ish")


def test_auroc_matches_sklearn_with_ties() -> None:
    scores = torch.tensor([0.9, 0.8, 0.8, 0.3, 0.2, 0.8, 0.1])
    truth = torch.tensor([1, 1, 0, 0, 1, 0, 0], dtype=torch.bool)
    assert stats.auroc(scores, truth) == pytest.approx(roc_auc_score(truth.numpy(), scores.numpy()))
    assert stats.auroc(scores, torch.zeros(7, dtype=torch.bool)) is None


def test_pooled_null_pvalues_count_the_null_at_or_above() -> None:
    null = torch.arange(99, dtype=torch.float32)  # 0..98
    observed = torch.tensor([[98.5, 49.0], [-1.0, 0.0]])
    p = stats.pooled_null_pvalues(observed, null)
    assert p[0, 0] == pytest.approx(1 / 100)  # nothing in the null reaches it
    assert p[0, 1] == pytest.approx((1 + 50) / 100)  # 49..98 reach it
    assert p[1, 0] == pytest.approx(1.0) and p[1, 1] == pytest.approx(1.0)


def test_bootstrap_interval_covers_the_mean_and_narrows_with_n() -> None:
    gen = torch.Generator().manual_seed(1)
    small = torch.randn(10, 1, generator=gen) + 2.0
    large = torch.randn(400, 1, generator=gen) + 2.0
    lo_s, hi_s = stats.bootstrap_mean_ci(small, 2000, seed=0)
    lo_l, hi_l = stats.bootstrap_mean_ci(large, 2000, seed=0)
    assert lo_s <= small.mean() <= hi_s and lo_l <= large.mean() <= hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 3
    # the percentile interval of the mean is close to the normal-theory one for large n
    se = large.std() / 20.0
    assert float(hi_l - lo_l) == pytest.approx(float(2 * 1.96 * se), rel=0.15)


def test_precision_recall_and_jaccard() -> None:
    predicted = torch.tensor([True, True, False, False])
    truth = torch.tensor([True, False, True, False])
    assert stats.precision_recall(predicted, truth) == (0.5, 0.5)
    assert stats.precision_recall(torch.zeros(4, dtype=torch.bool), truth) == (None, 0.0)
    assert stats.jaccard({1, 2}, {2, 3}) == pytest.approx(1 / 3)
    assert stats.jaccard(set(), set()) == 1.0


def test_crossed_bootstrap_without_factors_is_the_prompt_bootstrap() -> None:
    values = torch.rand(12, 7, 3, 2, generator=torch.Generator().manual_seed(0))
    crossed = stats.crossed_bootstrap_mean_ci(values, [], 500, seed=3)
    prompts = stats.bootstrap_mean_ci(values.mean(1), 500, seed=3)
    torch.testing.assert_close(crossed, prompts)


def _token_experiment(gen: torch.Generator, vocab: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    """Cells whose value is mostly a per-token effect: 20 prompts of 30 tokens drawn from a pool
    of 60 of ``vocab`` tokens, as the repeated-token detectors draw them from a pool."""
    pool = torch.randperm(vocab, generator=gen)[:60]
    tokens = pool[torch.randint(0, 60, (20, 30), generator=gen)]
    return tokens, 0.1 * torch.randn(20, 30, generator=gen)


def test_crossed_bootstrap_covers_the_mean_over_the_vocabulary_where_prompts_alone_do_not() -> None:
    gen = torch.Generator().manual_seed(7)
    effect = torch.randn(400, generator=gen)  # each token's own effect on the statistic
    truth = float(effect.mean())
    covered = {"prompts": 0, "tokens": 0}
    for rep in range(60):
        tokens, noise = _token_experiment(gen)
        values = (effect[tokens] + noise)[..., None]
        lo, hi = stats.bootstrap_mean_ci(values.mean(1), 400, seed=rep)
        covered["prompts"] += int(lo <= truth <= hi)
        lo, hi = stats.crossed_bootstrap_mean_ci(values, [tokens], 400, seed=rep)
        covered["tokens"] += int(lo <= truth <= hi)
    # With 60 pool tokens the pool's own mean is off by about 1/sqrt(60) = 0.13, which the prompt
    # interval (half-width about 0.06) misses about half the time (measured: covered 28 of 60);
    # the crossed one (Owen 2007) carries it (58 of 60).
    assert covered["tokens"] >= 54  # nominal 95%: at least 90% of 60
    assert covered["prompts"] <= 40
