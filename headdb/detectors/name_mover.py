"""Name-mover and negative name-mover heads on indirect-object-identification prompts."""

from __future__ import annotations

from dataclasses import dataclass

from headdb.detectors.base import Detector, DetectorMetadata, HeadTypeScores, register
from headdb.detectors.context import ModelContext
from headdb.detectors.shared import ioi_data, ioi_end_attention, memo, names_data, self_copy_ranks

MAJORITY = 0.5
TOP_K = 5  # Wang et al.'s copy score: the name is among the top 5 logits of the OV output


@register
class NameMoverDetector(Detector):
    metadata = DetectorMetadata(
        name="name-mover",
        version="1.0",
        head_types=("name-mover", "negative-name-mover"),
        paper="2023-interpretability-wild-circuit-indirect-object",
        method="On IOI prompts: attention from the final token to the indirect object (IO) and to "
        "both subject positions (S). Copy score (Wang et al.): the fraction of names whose "
        "effective embedding, through the head's OV circuit and the unembedding, puts the name "
        "itself in the top 5 logits; the negative copy score uses the negated output. Score = "
        "attention to IO x (negative) copy score.",
        data="IOI prompts from 5 templates with single-token names; the name list",
        label_rules={
            "name-mover": f"attention to IO > {MAJORITY}, more than to S, and copy score > {MAJORITY}",
            "negative-name-mover": f"attention to IO > {MAJORITY}, more than to S, and negative "
            f"copy score > {MAJORITY}",
        },
    )

    @dataclass(frozen=True)
    class Config:
        n_prompts: int = 64
        seed: int = 0

    def data_fingerprints(self, ctx: ModelContext) -> dict[str, str]:
        return {
            "ioi": ioi_data(ctx, self.config.n_prompts, self.config.seed).fingerprint,
            "name_tokens": names_data(ctx).fingerprint,
        }

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        attention = ioi_end_attention(ctx, ioi_data(ctx, self.config.n_prompts, self.config.seed)).mean(0)
        to_io, to_s = attention[..., 0], attention[..., 1] + attention[..., 2]
        ranks = self_copy_ranks(ctx, names_data(ctx).tokens[:, 0])
        copy = (ranks[0] < TOP_K).float().mean(0)
        negative_copy = (ranks[1] < TOP_K).float().mean(0)
        attends_io = (to_io > MAJORITY) & (to_io > to_s)
        components = {"attention_io": to_io, "attention_s": to_s, "copy": copy, "negative_copy": negative_copy}
        return [
            HeadTypeScores("name-mover", to_io * copy, attends_io & (copy > MAJORITY), components),
            HeadTypeScores(
                "negative-name-mover", to_io * negative_copy, attends_io & (negative_copy > MAJORITY), components
            ),
        ]

    @staticmethod
    def movers(scores: list[HeadTypeScores], fallback: int = 3) -> tuple[list[tuple[int, int]], bool]:
        """Name-mover heads (labelled ones, else the ``fallback`` best) and whether they are labelled."""
        nm = next(s for s in scores if s.head_type == "name-mover")
        labelled = nm.labelled()
        return (labelled, True) if labelled else (nm.top(fallback), False)


def name_mover_scores(ctx: ModelContext, config: NameMoverDetector.Config) -> list[HeadTypeScores]:
    """Name-mover scores for S-inhibition to build on, shared through the context."""
    return memo(ctx, f"name_mover_scores:{config}", lambda: NameMoverDetector(config).score(ctx))

