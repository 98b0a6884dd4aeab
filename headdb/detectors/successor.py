"""Successor heads (Gould et al.): the OV circuit maps an ordinal token to its successor."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from headdb.detectors import kernels
from headdb.detectors.base import Detector, DetectorMetadata, HeadTypeScores, register
from headdb.detectors.context import ModelContext
from headdb.detectors.shared import ordinal_data

MAJORITY = 0.5  # the head increments more than half of the ordinal tokens correctly


@register
class SuccessorDetector(Detector):
    metadata = DetectorMetadata(
        name="successor",
        version="1.0",
        head_types=("successor",),
        paper="2024-successor-heads-recurring-interpretable-attention",
        method="Succession score: each ordinal token's effective embedding (residual stream after "
        "block 0, token alone) is passed through the head's ln1 and OV circuit and read with the "
        "unembedding; a hit when the next member of its set has the top logit among that set's "
        "members. Sets: numbers, number words, ordinals, days, months, letters; single-token "
        "members only; no wrap-around (Sunday -> Monday is not asked).",
        data="ordinal token sets filtered to single tokens of the model's vocabulary",
        label_rules={"successor": f"succession score > {MAJORITY}"},
    )

    @dataclass(frozen=True)
    class Config:
        seed: int = 0  # the dataset is deterministic; kept for a uniform config

    def data_fingerprints(self, ctx: ModelContext) -> dict[str, str]:
        return {"ordinal_tokens": ordinal_data(ctx).fingerprint}

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        data = ordinal_data(ctx)
        ids = data.tokens[:, 0]
        src, dst = (torch.tensor(v) for v in data.meta["pairs"])
        x = ctx.effective_embeddings(ids)
        scores = torch.empty(ctx.n_layers, ctx.n_heads)
        for layer in range(ctx.n_layers):
            logits = ctx.unembed(ctx.head_outputs(layer, x), ids.to(ctx.device))  # [n, h, n]
            scores[layer] = kernels.succession_accuracy(logits.cpu(), data.index["set"], src, dst)
        return [HeadTypeScores("successor", scores, scores > MAJORITY, {"succession": scores})]
