"""The two ways headdb turns per-prompt measurements into calibrated labels. Pure functions.

- ``pattern_result``, for attention-pattern statistics (previous-token, duplicate-token,
  induction, ...): the score is the mean over prompts; its p-value is empirical, against the same
  statistic measured where the pattern cannot hold (the detector's null condition), pooled over
  every head of the model; p-values are adjusted over all heads (Benjamini-Hochberg).
- ``effect_result``, for causal effects (path patching, ablations): the score is the mean effect
  as a fraction of the clean metric; its p-value is a one-sided t-test over prompts; p-values are
  adjusted over the heads tested (Holm); an effect-size floor keeps tiny but consistent effects
  unlabelled.

Both give a 95% percentile-bootstrap interval over prompts for every head; for statistics on
random tokens, the pattern interval can resample the tokens too (``Cells``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from headdb import stats
from headdb.detectors.base import CONVENTION, Check, HeadTypeScores, decide

ALPHA = 0.05  # family-wise (Holm) or false-discovery (BH) level: headdb's convention


@dataclass(frozen=True)
class Calibration:
    """Shared statistical settings (part of each detector's config)."""

    alpha: float = ALPHA
    n_boot: int = 1000
    n_null_boot: int = 200
    seed: int = 0


@dataclass(frozen=True)
class Cells:
    """A pattern statistic kept per scored query as well as per prompt: ``values`` [n, queries,
    layers, heads] and ``tokens``, the ids [n, queries] of the tokens the value depends on
    besides the prompt (for attention, the query's and the key's)."""

    values: torch.Tensor
    tokens: tuple[torch.Tensor, ...]


def significance_check(alpha: float, correction: str) -> Check:
    return Check("q_value", "<", alpha, CONVENTION, f"p-value adjusted over all heads ({correction})")


def pattern_result(
    head_type: str,
    observed: torch.Tensor,
    null: torch.Tensor,
    checks: list[Check],
    calibration: Calibration,
    extra: dict[str, torch.Tensor] | None = None,
    quantity: str = "attention",
    cells: Cells | None = None,
) -> HeadTypeScores:
    """``observed`` and ``null`` are per-prompt values [n, layers, heads] of the same statistic
    in the pattern's condition and in the null condition. Components: ``{quantity}`` (the mean),
    ``{quantity}_ci_low``/``_ci_high``, ``null_mean``, ``p_value``, ``q_value`` and ``extra``;
    ``checks`` (see ``pattern_checks``) decide the label.

    The interval resamples prompts; given ``cells`` (the same statistic per query, whose mean
    over queries is ``observed``) it also resamples the tokens the cells are labelled with."""
    score = observed.mean(0)
    if cells is None:
        low, high = stats.bootstrap_mean_ci(observed, calibration.n_boot, seed=calibration.seed)
    else:
        low, high = stats.crossed_bootstrap_mean_ci(cells.values, cells.tokens, calibration.n_boot,
                                                    seed=calibration.seed)
    pool = stats.bootstrap_null_means(null, calibration.n_null_boot, seed=calibration.seed + 1)
    p = stats.pooled_null_pvalues(score, pool)
    q = stats.adjust(p, "benjamini-hochberg")
    components = {
        quantity: score, f"{quantity}_ci_low": low, f"{quantity}_ci_high": high,
        "null_mean": null.mean(0), "p_value": p, "q_value": q, **(extra or {}),
    }
    return decide(head_type, score, components, checks, ci=(low, high), p=p, q=q)


def pattern_checks(calibration: Calibration, floor: float, floor_source: str, meaning: str,
                   quantity: str = "attention") -> list[Check]:
    """Significant against the null (BH over heads), and the interval's lower end above ``floor``."""
    return [
        significance_check(calibration.alpha, "Benjamini-Hochberg, against the null"),
        Check(f"{quantity}_ci_low", ">", floor, floor_source, f"lower end of the 95% bootstrap interval of {meaning}"),
    ]


def effect_result(
    head_type: str,
    effects: torch.Tensor,
    tested: torch.Tensor,
    floor: float,
    floor_source: str,
    calibration: Calibration,
    *,
    direction: int = 1,
    extra: dict[str, torch.Tensor] | None = None,
    checks: list[Check] | None = None,
    allowed: torch.Tensor | bool = True,
) -> HeadTypeScores:
    """``effects`` are per-prompt effects [n, layers, heads] as fractions of the clean metric
    (positive: the head supports the behaviour). ``direction`` -1 labels heads that work against
    it (negative name movers): their score is the negated effect. Untested heads score 0, p = 1,
    with an interval of width 0.
    ``checks`` default to ``effect_checks(calibration, floor, floor_source, direction)``."""
    signed = effects * direction
    mean, _, p = stats.one_sample_t_pvalues(signed, "greater")
    p = torch.where(tested, p, torch.ones_like(p))
    mean = torch.where(tested, mean, torch.zeros_like(mean))
    low, high = stats.bootstrap_mean_ci(signed, calibration.n_boot, seed=calibration.seed)
    low, high = torch.where(tested, low, mean), torch.where(tested, high, mean)  # untested: no interval
    q = stats.adjust(p, "holm", tested)
    components = {"effect": mean, "effect_ci_low": low, "effect_ci_high": high, "p_value": p, "q_value": q,
                  **(extra or {})}
    checks = checks if checks is not None else effect_checks(calibration, floor, floor_source, direction)
    return decide(head_type, mean, components, checks, ci=(low, high), p=p, q=q, allowed=tested & torch.as_tensor(allowed))


def effect_checks(calibration: Calibration, floor: float, floor_source: str, direction: int = 1,
                  what: str = "mean effect as a fraction of the clean logit difference") -> list[Check]:
    """Significant (one-sided t-test, Holm over the heads tested) and at least ``floor``."""
    return [
        significance_check(calibration.alpha, "Holm, one-sided t-test over prompts"),
        Check("effect", ">=", floor, floor_source, what + (" (sign reversed)" if direction < 0 else "")),
    ]
