"""Repeated random tokens: [BOS] r_1 .. r_n r_1 .. r_n, the standard probe of Olsson et al.

In the second copy, the query at position i (holding r_k) has three targets of interest:
the previous position (previous-token heads), the earlier occurrence of its own token
(duplicate-token heads), and the token after that occurrence (induction heads).
"""

from __future__ import annotations

import torch

from headdb.detectors.datasets import DatasetUnavailable, PromptSet
from headdb.detectors.datasets.tokens import TokenizerView


def repeated_random_tokens(view: TokenizerView, n_prompts: int, half_length: int, n_ctx: int, seed: int) -> PromptSet:
    offset = 1 if view.bos_id is not None else 0
    half_length = min(half_length, (n_ctx - offset) // 2)
    if half_length < 4:
        raise DatasetUnavailable(f"context of {n_ctx} tokens is too short for repeated sequences")
    pool = view.ordinary_token_ids()
    if len(pool) < half_length:
        raise DatasetUnavailable(f"only {len(pool)} ordinary tokens; need {half_length}")
    gen = torch.Generator().manual_seed(seed)
    # Distinct tokens within a half, so each token has exactly one earlier occurrence.
    halves = torch.stack([pool[torch.randperm(len(pool), generator=gen)[:half_length]] for _ in range(n_prompts)])
    body = torch.cat([halves, halves], dim=1)
    if offset:
        body = torch.cat([torch.full((n_prompts, 1), view.bos_id, dtype=torch.long), body], dim=1)

    n = half_length
    second = torch.arange(offset + n, offset + 2 * n)  # query positions in the second copy
    prev_queries = torch.arange(offset + 1, offset + 2 * n)  # previous position is a real token
    index = {
        "prev_query": prev_queries.expand(n_prompts, -1),
        "prev_key": (prev_queries - 1).expand(n_prompts, -1),
        "dup_query": second.expand(n_prompts, -1),
        "dup_key": (second - n).expand(n_prompts, -1),
        "ind_query": second.expand(n_prompts, -1),
        "ind_key": (second - n + 1).expand(n_prompts, -1),
    }
    return PromptSet("repeated_random_tokens", body, {k: v.contiguous() for k, v in index.items()},
                     {"half_length": n, "seed": seed})
