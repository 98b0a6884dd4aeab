"""Datasets and forward-pass reductions that several detectors read.

Each function memoises its result on the ``ModelContext``, so the previous-token, duplicate-token
and induction detectors share one pass over the repeated tokens, the name-mover and S-inhibition
detectors one pass over the IOI prompts, and the mover and relation detectors one factual pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

from headdb.detectors import kernels
from headdb.detectors.context import Capture, ModelContext
from headdb.detectors.datasets import PromptSet
from headdb.detectors.datasets.factual import factual_prompts
from headdb.detectors.datasets.ioi import ioi_prompts
from headdb.detectors.datasets.ordinal import name_tokens, ordinal_tokens
from headdb.detectors.datasets.repeated import repeated_random_tokens

T = TypeVar("T")


def memo(ctx: ModelContext, key: str, build: Callable[[], T]) -> T:
    if key not in ctx.memo:
        ctx.memo[key] = build()
    return ctx.memo[key]  # type: ignore[no-any-return]


# -- repeated random tokens ------------------------------------------------------------------

REPEATED_TARGETS = ("prev", "dup", "ind")


def repeated_data(ctx: ModelContext, n_prompts: int, half_length: int, seed: int) -> PromptSet:
    return memo(ctx, f"repeated:{n_prompts}:{half_length}:{seed}",
                lambda: repeated_random_tokens(ctx.view, n_prompts, half_length, ctx.n_ctx, seed))


def _repeated_reduce(pattern: torch.Tensor, layer: int, chunk: PromptSet) -> torch.Tensor:
    i = chunk.index
    return torch.stack(
        [
            kernels.mean_attention_to(pattern, i["prev_query"], i["prev_key"]),
            kernels.mean_attention_to(pattern, i["dup_query"], i["dup_key"]),
            kernels.mean_attention_to(pattern, i["ind_query"], i["ind_key"]),
        ],
        dim=-1,
    )


def repeated_attention(ctx: ModelContext, prompts: PromptSet) -> dict[str, torch.Tensor]:
    """Mean attention of every head to the previous token, the earlier duplicate, and the token
    after the duplicate (induction target): each [layers, heads], averaged over prompts."""
    grid = ctx.capture(prompts, [Capture("repeated_targets", "attn.hook_pattern", _repeated_reduce)])
    mean = grid["repeated_targets"].mean(dim=0)  # [layers, heads, 3]
    return {name: mean[..., j] for j, name in enumerate(REPEATED_TARGETS)}


# -- IOI ---------------------------------------------------------------------------------------


def ioi_data(ctx: ModelContext, n_prompts: int, seed: int) -> PromptSet:
    return memo(ctx, f"ioi:{n_prompts}:{seed}", lambda: ioi_prompts(ctx.view, n_prompts, seed))


def _ioi_reduce(pattern: torch.Tensor, layer: int, chunk: PromptSet) -> torch.Tensor:
    rows = kernels.attention_rows(pattern, chunk.index["end"])  # [n, h, k]
    picks = torch.stack([chunk.index["io"], chunk.index["s1"], chunk.index["s2"]], dim=1)  # [n, 3]
    return rows.gather(-1, picks[:, None, :].expand(-1, rows.shape[1], -1).to(rows.device))  # [n, h, 3]


def ioi_end_attention(ctx: ModelContext, prompts: PromptSet) -> torch.Tensor:
    """Attention from the final position to IO, S1 and S2: [prompts, layers, heads, 3]."""
    return ctx.capture(prompts, [Capture("ioi_end", "attn.hook_pattern", _ioi_reduce)])["ioi_end"]


# -- weight-space reads of single tokens --------------------------------------------------------


def names_data(ctx: ModelContext) -> PromptSet:
    return memo(ctx, "names", lambda: name_tokens(ctx.view))


def ordinal_data(ctx: ModelContext) -> PromptSet:
    return memo(ctx, "ordinal", lambda: ordinal_tokens(ctx.view))


def self_copy_ranks(ctx: ModelContext, token_ids: torch.Tensor) -> torch.Tensor:
    """For each token (its effective embedding read by each head's OV circuit straight into the
    unembedding), the rank of the token itself among all logits, and among the negated logits:
    [2, tokens, layers, heads] (0 = top)."""

    def build() -> torch.Tensor:
        x = ctx.effective_embeddings(token_ids)
        out = torch.empty(2, len(token_ids), ctx.n_layers, ctx.n_heads, dtype=torch.long)
        for layer in range(ctx.n_layers):
            logits = ctx.unembed(ctx.head_outputs(layer, x))  # [tokens, heads, vocab]
            targets = token_ids.to(logits.device)
            out[0, :, layer] = kernels.rank_of(logits, targets).cpu()
            out[1, :, layer] = kernels.rank_of(logits, targets, negated=True).cpu()
        return out

    return memo(ctx, f"self_copy:{hash(tuple(token_ids.tolist()))}", build)


# -- factual prompts ----------------------------------------------------------------------------


def factual_data(ctx: ModelContext) -> PromptSet:
    return memo(ctx, "factual", lambda: factual_prompts(ctx.view))


def _span_reduce(pattern: torch.Tensor, layer: int, chunk: PromptSet) -> torch.Tensor:
    rows = kernels.attention_rows(pattern, chunk.index["end"])
    return torch.stack(
        [
            kernels.span_mass(rows, chunk.index["subject_mask"].to(rows.device)),
            kernels.span_mass(rows, chunk.index["relation_mask"].to(rows.device)),
        ],
        dim=-1,
    )  # [n, h, 2]


def z_at_end(z: torch.Tensor, layer: int, chunk: PromptSet) -> torch.Tensor:
    """Reducer: each head's z (attention-weighted values) at the prompt's final position."""
    rows = torch.arange(z.shape[0], device=z.device)
    return z[rows, chunk.index["end"].to(z.device)]  # [n, h, d_head]


def factual_reads(ctx: ModelContext, prompts: PromptSet) -> dict[str, torch.Tensor]:
    """One pass over the factual prompts: attention mass from the last token on the subject and
    relation spans [n, layers, heads, 2], and each head's direct logits at the last position,
    summarised as top-10 hits for the object, the subject's tokens and the relation's words."""

    def build() -> dict[str, torch.Tensor]:
        got = ctx.capture(
            prompts,
            [Capture("factual_spans", "attn.hook_pattern", _span_reduce), Capture("factual_z", "attn.hook_z", z_at_end)],
        )
        z = got["factual_z"]  # [n, layers, heads, d_head]
        tokens = prompts.tokens
        subject_tokens = torch.where(prompts.index["subject_mask"], tokens, torch.full_like(tokens, -1))
        relation_words = prompts.meta["relation_words"]
        width = max(1, max(len(v) for v in relation_words.values()))
        rel_targets = torch.full((len(prompts), width), -1, dtype=torch.long)
        for row, rel in enumerate(prompts.index["relation"].tolist()):
            ids = relation_words[prompts.meta["relations"][rel]]
            rel_targets[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        hits = torch.zeros(3, len(prompts), ctx.n_layers, ctx.n_heads, dtype=torch.bool)
        for layer in range(ctx.n_layers):
            out = torch.einsum("nhe,hed->nhd", z[:, layer].to(ctx.W_O.device), ctx.W_O[layer])
            top = ctx.unembed(out).topk(10, dim=-1).indices  # [n, heads, 10]
            for row, targets in enumerate((prompts.index["object_token"][:, None], subject_tokens, rel_targets)):
                hits[row, :, layer] = kernels.any_in_top(top, targets.to(top.device)).cpu()
        return {"spans": got["factual_spans"], "object_hit": hits[0], "subject_hit": hits[1], "relation_hit": hits[2]}

    return memo(ctx, f"factual_reads:{prompts.fingerprint}", build)
