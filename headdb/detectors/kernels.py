"""Pure scoring functions on tensors: no model, no database, no I/O.

Shapes: ``n`` prompts, ``h`` heads, ``q``/``k`` query/key positions, ``m`` entries per prompt.
"""

from __future__ import annotations

import torch


def gather_attention(pattern: torch.Tensor, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Attention weights pattern[n, h, query[n, m], key[n, m]] -> [n, m, h]."""
    rows = torch.arange(pattern.shape[0], device=pattern.device)[:, None]
    return pattern[rows, :, query.to(pattern.device), key.to(pattern.device)]


def mean_attention_to(pattern: torch.Tensor, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Mean over each prompt's (query, key) pairs of the attention paid: [n, h]."""
    return gather_attention(pattern, query, key).mean(dim=1)


def attention_rows(pattern: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """The attention distribution of one query position per prompt: [n, h, k]."""
    rows = torch.arange(pattern.shape[0], device=pattern.device)
    return pattern[rows, :, query.to(pattern.device), :]


def span_mass(rows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Attention mass [n, h] that rows [n, h, k] put on the positions where mask [n, k] holds."""
    return (rows * mask[:, None, :].to(rows.dtype)).sum(dim=-1)


def copying_score(ov_token_circuits: torch.Tensor) -> torch.Tensor:
    """Olsson et al.'s copying score of [h, d, d] matrices whose nonzero eigenvalues are those of
    each head's full OV circuit (token -> logit): sum of eigenvalues over sum of their absolute
    values, in [-1, 1]. Positive means the head raises the logits of the tokens it attends to."""
    eig = torch.linalg.eigvals(ov_token_circuits.double())
    return (eig.real.sum(-1) / eig.abs().sum(-1).clamp_min(1e-12)).float()


def rank_of(logits: torch.Tensor, target: torch.Tensor, negated: bool = False) -> torch.Tensor:
    """0-based rank of target[n] in logits[n, h, v] (0 = highest), or in -logits if ``negated``."""
    chosen = logits.gather(-1, target[:, None, None].expand(-1, logits.shape[1], 1))
    return (logits < chosen).sum(dim=-1) if negated else (logits > chosen).sum(dim=-1)


def any_in_top(top: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Whether any of targets[n, t] (-1 = padding) is among the indices top[n, h, k]: [n, h]."""
    hits = (top[..., :, None] == targets[:, None, None, :]) & (targets[:, None, None, :] >= 0)
    return hits.any(dim=-1).any(dim=-1)


def succession_accuracy(logits: torch.Tensor, member_set: torch.Tensor, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Gould et al.'s succession score. logits[n, h, n]: each ordinal token's head output read
    against every ordinal token. For each pair (src -> dst, dst the next member of src's set),
    a hit is dst having the top logit among the members of that set. Returns [h]."""
    same_set = member_set[src][:, None] == member_set[None, :]  # [pairs, n]
    restricted = logits[src].masked_fill(~same_set[:, None, :], float("-inf"))  # [pairs, h, n]
    return (restricted.argmax(dim=-1) == dst[:, None]).float().mean(dim=0)


def ranks(scores: torch.Tensor) -> torch.Tensor:
    """1-based rank of every entry of a [layers, heads] score grid, highest score first."""
    flat = scores.flatten().nan_to_num(float("-inf"))
    order = torch.argsort(flat, descending=True, stable=True)
    out = torch.empty_like(order)
    out[order] = torch.arange(1, len(flat) + 1)
    return out.view_as(scores)


def mean_and_stderr(values: torch.Tensor, dim: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard error of the mean along ``dim``."""
    n = values.shape[dim]
    mean = values.mean(dim=dim)
    se = values.std(dim=dim, unbiased=True) / n**0.5 if n > 1 else torch.zeros_like(mean)
    return mean, se
