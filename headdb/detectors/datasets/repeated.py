"""Repeated random tokens: [BOS] r_1 .. r_n r_1 .. r_n, the standard probe of Olsson et al., with
the null conditions the calibrated detectors compare against.

In the second copy, the query at position i (holding r_k) has three targets of interest: the
previous position (previous-token heads), the earlier occurrence of its own token (duplicate-token
heads) and the token after that occurrence (induction heads). Null conditions:

- ``control_tokens``: the same first half followed by fresh tokens, so nothing repeats and the
  duplicate and induction targets (same positions) mean nothing;
- ``prev_null_key``: for every previous-token query, a uniformly drawn earlier position other
  than i-1 and BOS, where a preference for the previous token cannot show.
"""

from __future__ import annotations

import torch

from headdb.detectors.datasets import DatasetUnavailable, PromptSet
from headdb.detectors.datasets.tokens import POOLS, TokenizerView


def repeated_random_tokens(
    view: TokenizerView, n_prompts: int, half_length: int, n_ctx: int, seed: int, pool: str = "default"
) -> PromptSet:
    offset = 1 if view.bos_id is not None else 0
    half_length = min(half_length, (n_ctx - offset) // 2)
    if half_length < 4:
        raise DatasetUnavailable(f"context of {n_ctx} tokens is too short for repeated sequences")
    ids = view.pool(pool)
    if len(ids) < 2 * half_length:
        raise DatasetUnavailable(f"the {pool!r} token pool has only {len(ids)} tokens; need {2 * half_length}")
    gen = torch.Generator().manual_seed(seed)
    # 2n distinct tokens per prompt: the first n make the repeated half, the rest the control's.
    draws = torch.stack([ids[torch.randperm(len(ids), generator=gen)[: 2 * half_length]] for _ in range(n_prompts)])
    first, fresh = draws[:, :half_length], draws[:, half_length:]
    body = torch.cat([first, first], dim=1)
    control = torch.cat([first, fresh], dim=1)
    if offset:
        bos = torch.full((n_prompts, 1), view.bos_id, dtype=torch.long)
        body, control = torch.cat([bos, body], dim=1), torch.cat([bos, control], dim=1)

    n = half_length
    second = torch.arange(offset + n, offset + 2 * n)  # query positions in the second copy
    prev_queries = torch.arange(offset + 1, offset + 2 * n)  # the previous position is a real token
    # A random earlier real position other than i-1 (queries at offset+1 have none: they keep i-1,
    # which only the first query of each prompt is, and is dropped from the null below).
    u = torch.rand(n_prompts, len(prev_queries), generator=gen)
    span = (prev_queries - 1 - offset).clamp_min(1)  # candidates offset .. i-2
    null_keys = offset + (u * span).long().clamp(max=span - 1)
    null_keys = torch.where(prev_queries - 1 - offset > 0, null_keys, prev_queries - 1)
    index = {
        "prev_query": prev_queries.expand(n_prompts, -1),
        "prev_key": (prev_queries - 1).expand(n_prompts, -1),
        "prev_null_query": prev_queries[1:].expand(n_prompts, -1),
        "prev_null_key": null_keys[:, 1:],
        "dup_query": second.expand(n_prompts, -1),
        "dup_key": (second - n).expand(n_prompts, -1),
        "ind_query": second.expand(n_prompts, -1),
        "ind_key": (second - n + 1).expand(n_prompts, -1),
        "control_tokens": control,
    }
    return PromptSet("repeated_random_tokens", body, {k: v.contiguous() for k, v in index.items()},
                     {"half_length": n, "seed": seed, "pool": pool, "pool_size": len(ids), "bos": offset == 1})


__all__ = ["POOLS", "repeated_random_tokens"]
