"""Successor heads (Gould et al.): the OV circuit maps an ordinal token to its successor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from headdb.detectors.base import CONVENTION, Check, Detector, DetectorMetadata, HeadTypeScores, register
from headdb.detectors.calibration import Calibration, pattern_checks, pattern_result
from headdb.detectors.context import ModelContext
from headdb.detectors.datasets import PromptSet
from headdb.detectors.shared import ordinal_data

EMBEDDINGS = ("mlp0", "block0")


def succession_hits(logits: torch.Tensor, member_set: torch.Tensor, src: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """logits [tokens, heads, tokens]: each ordinal token's head output read against every ordinal
    token. For each pair (src -> target), a hit when ``target`` has the top logit among the
    members of src's set. Returns [pairs, heads] (0/1)."""
    same_set = member_set[src][:, None] == member_set[None, :]
    restricted = logits[src].masked_fill(~same_set[:, None, :], float("-inf"))
    return (restricted.argmax(dim=-1) == target[:, None]).float()


def random_targets(data: PromptSet, src: torch.Tensor, dst: torch.Tensor, seed: int) -> torch.Tensor:
    """For every pair, another member of src's set that is neither src nor its successor (the
    successor alone where the set has no other member): what a head that does not increment
    would hit as often as the successor."""
    gen = torch.Generator().manual_seed(seed)
    sets = data.index["set"]
    out = torch.empty_like(dst)
    for i, (s, d) in enumerate(zip(src.tolist(), dst.tolist(), strict=True)):
        members = [m for m in (sets == sets[s]).nonzero().flatten().tolist() if m not in (s, d)] or [d]
        out[i] = members[int(torch.randint(len(members), (1,), generator=gen))]
    return out


@register
class SuccessorDetector(Detector):
    metadata = DetectorMetadata(
        name="successor",
        version="2.0",
        head_types=("successor",),
        paper="2024-successor-heads-recurring-interpretable-attention",
        method="Succession score through the effective OV circuit: each ordinal token's effective "
        "embedding, W_E[t] + MLP0(norm(W_E[t])) (Gould et al. build it from MLP0 of the embedding; "
        "keeping the embedding itself, the norm in front of MLP0, and leaving out attention layer 0, "
        "positions and b_V is how headdb reads it), passes through the head's "
        "ln1 and W_V W_O and the final norm's linear part into the unembedding; a hit when the next "
        "member of its set has the top logit among that set's members. Sets: numbers, number words, "
        "ordinals, days, months, letters (or the model's probe sets); single-token members only; "
        "no wrap-around. Variant `embedding: block0` is successor 1.0's reading (block 0 run on "
        "each token alone at position 0, b_V kept).",
        data="ordinal token sets filtered to single tokens of the model's vocabulary",
        null="the same hit rate against a random other member of the set instead of the successor "
        "(bootstrap means pooled over heads give an empirical p-value)",
        changes="2.0: MLP0 effective embedding without b_V by default (1.0: block 0 at position 0, "
        "b_V kept, now the `block0` variant); intervals and null p-values; majority on the lower end.",
    )

    @dataclass(frozen=True)
    class Config:
        seed: int = 0
        embedding: str = "mlp0"  # or "block0" (successor 1.0)
        majority: float = 0.5
        calibration: Calibration = field(default_factory=Calibration)

    @classmethod
    def checks(cls, config: Any) -> dict[str, list[Check]]:
        return {"successor": pattern_checks(config.calibration, config.majority, CONVENTION,
                                            "succession score", quantity="succession")}

    def data_fingerprints(self, ctx: ModelContext) -> dict[str, str]:
        return {"ordinal_tokens": ordinal_data(ctx).fingerprint}

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        if self.config.embedding not in EMBEDDINGS:
            raise ValueError(f"unknown successor embedding {self.config.embedding!r}; choose one of {EMBEDDINGS}")
        data = ordinal_data(ctx)
        ids = data.tokens[:, 0]
        src, dst = (torch.tensor(v) for v in data.meta["pairs"])
        null_dst = random_targets(data, src, dst, self.config.seed)
        mlp0 = self.config.embedding == "mlp0"
        x = ctx.mlp0_embeddings(ids) if mlp0 else ctx.block0_embeddings(ids)
        hits = torch.empty(len(src), ctx.n_layers, ctx.n_heads)
        null = torch.empty_like(hits)
        for layer in range(ctx.n_layers):
            logits = ctx.unembed(ctx.head_outputs(layer, x, value_bias=not mlp0), ids.to(ctx.device)).cpu()
            hits[:, layer] = succession_hits(logits, data.index["set"], src, dst)
            null[:, layer] = succession_hits(logits, data.index["set"], src, null_dst)
        return [pattern_result("successor", hits, null, self.checks(self.config)["successor"],
                               self.config.calibration, quantity="succession")]
