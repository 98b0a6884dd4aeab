"""Induction heads: prefix matching on repeated tokens, plus an OV circuit that copies."""

from __future__ import annotations

import torch

from headdb.detectors import kernels
from headdb.detectors.base import DetectorMetadata, HeadTypeScores, register
from headdb.detectors.context import ModelContext
from headdb.detectors.repeated_base import DATA, RepeatedTokensDetector
from headdb.detectors.shared import memo

MAJORITY = 0.5


def ov_copying_scores(ctx: ModelContext) -> torch.Tensor:
    """Olsson et al.'s copying score of every head's full OV circuit (token embedding -> ln1 gain
    -> W_V W_O -> final-norm gain -> unembedding), from the weights: [layers, heads] in [-1, 1].

    The vocab x vocab circuit W_E g1 W_V W_O gf W_U has the same nonzero eigenvalues as the
    d_head x d_head matrix W_O gf W_U W_E g1 W_V, which is what is decomposed."""

    def build() -> torch.Tensor:
        gain_f = ctx.norm_gain(None)
        unembed_embed = (ctx.W_U * gain_f[:, None]) @ ctx.W_E  # [d_model, d_model]
        out = torch.empty(ctx.n_layers, ctx.n_heads)
        for layer in range(ctx.n_layers):
            w_v = ctx.W_V[layer] * ctx.norm_gain(layer)[None, :, None]  # [h, d_model, d_head]
            small = ctx.W_O[layer] @ unembed_embed[None] @ w_v  # [h, d_head, d_head]
            out[layer] = kernels.copying_score(small).cpu()
        return out

    return memo(ctx, "ov_copying", build)


@register
class InductionDetector(RepeatedTokensDetector):
    metadata = DetectorMetadata(
        name="induction",
        version="1.0",
        head_types=("induction",),
        paper="2022-context-learning-induction-heads",
        method="Prefix matching: mean attention from each token of the second copy of a repeated "
        "random sequence to the token that followed its first occurrence; and copying: the sign "
        "of the eigenvalues of the head's full OV circuit (Olsson et al.). BOS is never a target.",
        data=DATA,
        label_rules={
            "induction": f"prefix-matching attention > {MAJORITY} and OV copying score > 0 "
            "(the head attends to the next token after the earlier copy and copies it)"
        },
    )

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        prefix = self.attention(ctx, "ind")
        copying = ov_copying_scores(ctx)
        labels = (prefix > MAJORITY) & (copying > 0)
        return [HeadTypeScores("induction", prefix, labels, {"prefix_matching": prefix, "copying": copying})]
