"""Induction heads: prefix matching on repeated tokens, plus an OV circuit that copies."""

from __future__ import annotations

from typing import Any

import torch

from headdb.detectors import kernels
from headdb.detectors.base import CONVENTION, Check, DetectorMetadata, HeadTypeScores, register
from headdb.detectors.calibration import pattern_checks, pattern_result
from headdb.detectors.context import ModelContext
from headdb.detectors.repeated_base import CHANGES_2_1, DATA, RepeatedTokensDetector, resampled
from headdb.detectors.shared import memo


def ov_copying_scores(ctx: ModelContext) -> torch.Tensor:
    """The eigenvalue copying score of every head's full OV circuit (token embedding -> ln1 gain
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
        version="2.1",
        head_types=("induction",),
        paper="2022-context-learning-induction-heads",
        method="Prefix matching (Olsson et al.): mean attention from each token of the second copy of "
        "a repeated random sequence to the token that followed its first occurrence, per prompt; "
        "and copying: the sum of the eigenvalues of the head's full OV circuit over the sum of their "
        "absolute values (Elhage et al.'s eigenvalue copying score). BOS is never a target.",
        data=DATA,
        null="the same query and key positions in the control twins, where nothing repeats: "
        "bootstrap means, pooled over the model's heads, give an empirical p-value",
        changes=CHANGES_2_1 + " "
        "2.0: per-prompt bootstrap intervals, null p-values (control twins) with "
        "Benjamini-Hochberg adjustment, majority convention on the interval's lower end.",
    )

    @classmethod
    def checks(cls, config: Any) -> dict[str, list[Check]]:
        return {"induction": [
            *pattern_checks(config.calibration, config.majority, CONVENTION, "prefix-matching attention" + resampled(config),
                            quantity="prefix_matching"),
            Check("copying", ">", 0.0, CONVENTION, "OV eigenvalue copying score (positive: the head copies)"),
        ]}

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        a = self.attention(ctx)
        extra = {"copying": ov_copying_scores(ctx)}
        return [pattern_result("induction", a["ind"], a["ind_control"], self.checks(self.config)["induction"],
                               self.config.calibration, extra, quantity="prefix_matching",
                               cells=self.cells(ctx, "ind"))]
