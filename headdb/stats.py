"""Pure statistics on tensors: bootstrap intervals, null-distribution p-values, multiple-testing
corrections, and the metrics the validation report uses. No model, no database, no I/O.

Conventions: per-prompt values come as ``[n, ...]`` tensors (prompts first); every function
works elementwise over the trailing dimensions (usually ``[layers, heads]``). Randomness comes
from an explicit seed, so a stored run can be recomputed exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def bootstrap_mean_ci(
    values: torch.Tensor, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Percentile bootstrap interval of the mean over prompts (dim 0): (low, high), each shaped
    like ``values[0]``. Resamples whole prompts, so every head shares the same resamples."""
    n = values.shape[0]
    flat = values.reshape(n, -1).double()
    if n < 2:
        mean = flat.mean(0)
        return mean.view_as(values[0]).float(), mean.view_as(values[0]).float()
    gen = _generator(seed)
    means = torch.empty(n_boot, flat.shape[1], dtype=torch.float64)
    chunk = max(1, 2**22 // max(1, n * flat.shape[1]))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        rows = torch.randint(0, n, (stop - start, n), generator=gen)
        means[start:stop] = flat[rows].mean(1)
    alpha = (1.0 - level) / 2.0
    low = torch.quantile(means, alpha, dim=0)
    high = torch.quantile(means, 1.0 - alpha, dim=0)
    return low.view_as(values[0]).float(), high.view_as(values[0]).float()


def crossed_bootstrap_mean_ci(
    values: torch.Tensor,
    factors: Sequence[torch.Tensor],
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pigeonhole bootstrap interval (Owen 2007, Ann. Appl. Stat. 1:386) of the mean of cells
    ``values`` [n, m, ...] that are crossed with other random factors besides the prompt.

    ``factors`` are integer labels [n, m] of each cell's level of every further factor (for
    example the token at the query and the token at the key). Each resample draws independent
    multinomial weights for the prompts and for the levels of every factor; a cell weighs the
    product of its weights, and the resample's statistic is the weighted mean. So the interval
    carries the variance of drawing other tokens as well as other prompts; Owen shows this
    estimate of the variance is mildly conservative. With no factors it is the prompt bootstrap.
    Resamples whose weights are all zero are dropped."""
    n, m = values.shape[:2]
    flat = values.reshape(n * m, -1).double()
    levels = [torch.unique(f.reshape(-1), return_inverse=True)[1] for f in factors]
    prompt_of = torch.arange(n).repeat_interleave(m)
    gen = _generator(seed)
    means = torch.empty(n_boot, flat.shape[1], dtype=torch.float64)
    chunk = max(1, 2**22 // max(1, n * m))
    for start in range(0, n_boot, chunk):
        size = min(n_boot, start + chunk) - start
        weight = _multinomial_counts(n, size, gen)[:, prompt_of]  # [size, cells]
        for level_of in levels:
            k = int(level_of.max()) + 1
            weight = weight * _multinomial_counts(k, size, gen)[:, level_of]
        total = weight.sum(1, keepdim=True)
        means[start : start + size] = (weight @ flat) / total  # 0/0 -> nan, dropped below
    alpha = (1.0 - level) / 2.0
    low = torch.nanquantile(means, alpha, dim=0)
    high = torch.nanquantile(means, 1.0 - alpha, dim=0)
    shape = values.shape[2:]
    return low.view(shape).float(), high.view(shape).float()


def _multinomial_counts(k: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``size`` rows of bootstrap counts: how often each of k units is drawn in k draws."""
    draws = torch.randint(0, k, (size, k), generator=gen)
    counts = torch.zeros(size, k, dtype=torch.float64)
    return counts.scatter_add_(1, draws, torch.ones(size, k, dtype=torch.float64))


def pooled_null_pvalues(observed: torch.Tensor, null: torch.Tensor) -> torch.Tensor:
    """Empirical one-sided p-value of every observed statistic against one pooled null sample:
    (1 + #{null >= observed}) / (1 + len(null)). ``null`` is flattened; ``observed`` keeps its
    shape. The +1 keeps p above zero, as for any finite null sample."""
    pool = torch.sort(null.flatten().double()).values
    obs = observed.double().flatten()
    at_least = pool.numel() - torch.searchsorted(pool, obs, right=False)
    return ((1.0 + at_least.double()) / (1.0 + pool.numel())).view_as(observed).float()


def bootstrap_null_means(
    values: torch.Tensor, n_boot: int = 200, seed: int = 1
) -> torch.Tensor:
    """A null sample of per-head means: bootstrap means over prompts of null-condition values
    ``[n, ...]``, for every head, flattened into one pool of ``n_boot * heads`` numbers."""
    n = values.shape[0]
    flat = values.reshape(n, -1).double()
    rows = torch.randint(0, n, (n_boot, n), generator=_generator(seed))
    return flat[rows].mean(1).flatten().float()


def one_sample_t_pvalues(values: torch.Tensor, alternative: str = "greater") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Student's t-test of mean(values) over prompts (dim 0) against 0.

    Returns (mean, standard error, p-value); ``alternative`` is "greater", "less" or
    "two-sided". A constant zero column (a head that cannot matter) gets p = 1."""
    from scipy import stats as sps

    n = values.shape[0]
    flat = values.reshape(n, -1).double()
    mean = flat.mean(0)
    se = flat.std(0, unbiased=True) / math.sqrt(n) if n > 1 else torch.zeros_like(mean)
    with torch.no_grad():
        t = torch.where(se > 0, mean / se.clamp_min(1e-300), torch.where(mean > 0, math.inf, torch.where(mean < 0, -math.inf, 0.0)))
    df = max(n - 1, 1)
    t_np = t.numpy()
    if alternative == "greater":
        p = sps.t.sf(t_np, df)
    elif alternative == "less":
        p = sps.t.cdf(t_np, df)
    elif alternative == "two-sided":
        p = 2 * sps.t.sf(abs(t_np), df)
    else:
        raise ValueError(f"unknown alternative {alternative!r}")
    p_t = torch.as_tensor(p, dtype=torch.float64).clamp(0.0, 1.0)
    p_t = torch.where((se == 0) & (mean == 0), torch.ones_like(p_t), p_t)
    shape = values.shape[1:]
    return mean.view(shape).float(), se.view(shape).float(), p_t.view(shape).float()


def benjamini_hochberg(p: torch.Tensor) -> torch.Tensor:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), same shape as ``p``."""
    flat = p.flatten().double()
    m = flat.numel()
    order = torch.argsort(flat)
    ranked = flat[order] * m / torch.arange(1, m + 1, dtype=torch.float64)
    # Monotone from the largest p down: q_(i) = min_{j >= i} p_(j) m / j.
    adjusted = torch.flip(torch.cummin(torch.flip(ranked, [0]), 0).values, [0]).clamp(max=1.0)
    out = torch.empty_like(flat)
    out[order] = adjusted
    return out.view_as(p).float()


def holm(p: torch.Tensor) -> torch.Tensor:
    """Holm-Bonferroni adjusted p-values (family-wise error rate), same shape as ``p``."""
    flat = p.flatten().double()
    m = flat.numel()
    order = torch.argsort(flat)
    ranked = flat[order] * (m - torch.arange(m, dtype=torch.float64))
    adjusted = torch.cummax(ranked, 0).values.clamp(max=1.0)
    out = torch.empty_like(flat)
    out[order] = adjusted
    return out.view_as(p).float()


CORRECTIONS = {"holm": holm, "benjamini-hochberg": benjamini_hochberg}


def adjust(p: torch.Tensor, method: str, tested: torch.Tensor | None = None) -> torch.Tensor:
    """Adjust ``p`` over the heads where ``tested`` holds (all by default); untested heads get 1."""
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; known: {', '.join(CORRECTIONS)}")
    if tested is None:
        return CORRECTIONS[method](p)
    out = torch.ones_like(p)
    if tested.any():
        out[tested] = CORRECTIONS[method](p[tested])
    return out


def auroc(scores: torch.Tensor, truth: torch.Tensor) -> float | None:
    """Area under the ROC curve of ``scores`` for the boolean ``truth`` (ties count one half);
    None when either class is empty."""
    scores, truth = scores.flatten().double(), truth.flatten().bool()
    pos, neg = scores[truth], scores[~truth]
    if pos.numel() == 0 or neg.numel() == 0:
        return None
    greater = (pos[:, None] > neg[None, :]).double().sum()
    ties = (pos[:, None] == neg[None, :]).double().sum()
    return float((greater + 0.5 * ties) / (pos.numel() * neg.numel()))


def precision_recall(predicted: torch.Tensor, truth: torch.Tensor) -> tuple[float | None, float | None]:
    """Precision (None when nothing is predicted) and recall (None when nothing is true)."""
    predicted, truth = predicted.flatten().bool(), truth.flatten().bool()
    tp = int((predicted & truth).sum())
    n_pred, n_true = int(predicted.sum()), int(truth.sum())
    return (tp / n_pred if n_pred else None), (tp / n_true if n_true else None)


def jaccard(a: set[object], b: set[object]) -> float:
    """|a & b| / |a | b|, 1.0 for two empty sets (they agree)."""
    union = a | b
    return len(a & b) / len(union) if union else 1.0
