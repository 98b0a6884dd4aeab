"""Shared base of the Knowledge Circuits detectors (mover and relation heads): per-relation
statistics on factual prompts the model knows, and the choice of each head's best relation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from headdb import stats
from headdb.detectors.base import CONVENTION, Check, Detector, HeadTypeScores, decide
from headdb.detectors.calibration import Calibration, significance_check
from headdb.detectors.context import ModelContext
from headdb.detectors.shared import factual_data, factual_reads, without_bos

PAPER = "2024-knowledge-circuits-pretrained-transformers"
DATA = ("factual prompts from (subject, relation, object) facts, several templates per relation "
        "(English world facts by default, or the model's probe file); per relation, only prompts whose "
        "object the model itself ranks in its top 10 (facts it knows) are scored when there are at "
        "least 8 of them, else all of the relation's prompts (recorded as known_prompts = 0)")


class FactualDetector(Detector):
    """Subclasses name the span they read (0: subject, 1: relation) and the hit columns."""

    span: int
    hits: tuple[str, ...]
    null_hits: tuple[str, ...]
    span_name: str

    @dataclass(frozen=True)
    class Config:
        seed: int = 0
        top_k: int = 10  # Hit@10, as Knowledge Circuits evaluates
        min_known: int = 8  # a relation needs this many known prompts to be scored
        majority: float = 0.5
        calibration: Calibration = field(default_factory=Calibration)

    @classmethod
    def checks(cls, config: Any) -> dict[str, list[Check]]:
        return {cls.metadata.head_types[0]: [
            Check("attention_ci_low", ">", config.majority, CONVENTION,
                  f"lower end of the 95% interval of attention from the last token to the {cls.span_name} span"),
            Check("hit_rate_ci_low", ">", config.majority, CONVENTION,
                  f"lower end of the 95% interval of the head's top-{config.top_k} hit rate"),
            significance_check(config.calibration.alpha, "Benjamini-Hochberg, hit rate against the shuffled-target null"),
        ]}

    def data_fingerprints(self, ctx: ModelContext) -> dict[str, str]:
        return {"factual": factual_data(ctx).fingerprint}

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        c = self.config
        prompts = factual_data(ctx)
        reads = factual_reads(ctx, prompts, c.top_k)
        head_type = self.metadata.head_types[0]
        checks = self.checks(c)[head_type]
        relations = prompts.meta["relations"]
        best: dict[str, torch.Tensor] | None = None
        per_relation: dict[str, torch.Tensor] = {}
        for r_index, relation in enumerate(relations):
            of_relation = prompts.index["relation"] == r_index
            rows = of_relation & reads["known"]
            known = int(rows.sum())
            if known < c.min_known:  # a model that knows too few of these facts: read them all
                rows, known = of_relation, 0
            if int(rows.sum()) < 2:
                continue
            result = self._relation(reads, rows, r_index)
            result["known_prompts"] = torch.full_like(result["score"], float(known))
            per_relation[f"score[{relation}]"] = result["score"]
            passed = torch.ones_like(result["score"], dtype=torch.bool)
            for check in checks:
                passed &= check.holds(result)
            rank = result["score"] + 2.0 * passed  # a relation that passes beats one that does not
            if best is None:
                best = {**result, "_rank": rank}
            else:
                better = rank > best["_rank"]
                best = {k: torch.where(better, result[k] if k != "_rank" else rank, v) for k, v in best.items()}
        if best is None:
            zeros = torch.zeros(ctx.n_layers, ctx.n_heads)
            return [decide(head_type, zeros, {"attention_ci_low": zeros, "hit_rate_ci_low": zeros,
                                              "q_value": torch.ones_like(zeros)}, checks, allowed=False)]
        best.pop("_rank")
        score = best.pop("score")
        components = {**best, **per_relation}
        return [decide(head_type, score, components, checks, ci=(best["score_ci_low"], best["score_ci_high"]),
                       p=best["p_value"], q=best["q_value"])]

    def _relation(self, reads: dict[str, torch.Tensor], rows: torch.Tensor, r_index: int) -> dict[str, torch.Tensor]:
        cal = self.config.calibration
        spans = reads["spans"][rows]
        attention = spans[..., self.span]
        hit = torch.zeros_like(attention, dtype=torch.bool)
        for key in self.hits:
            hit |= reads[key][rows]
        null = torch.zeros_like(hit)
        for key in self.null_hits:
            null |= reads[key][rows]
        hit, null = hit.float(), null.float()
        att_low, _ = stats.bootstrap_mean_ci(attention, cal.n_boot, seed=cal.seed)
        hit_low, _ = stats.bootstrap_mean_ci(hit, cal.n_boot, seed=cal.seed)
        score_low, score_high = stats.bootstrap_mean_ci(attention * hit, cal.n_boot, seed=cal.seed)
        p = stats.pooled_null_pvalues(hit.mean(0), stats.bootstrap_null_means(null, cal.n_null_boot, cal.seed + 1))
        return {
            "score": (attention * hit).mean(0),  # the statistic the interval is of
            "score_ci_low": score_low, "score_ci_high": score_high,
            "attention": attention.mean(0), "attention_ci_low": att_low,
            "attention_without_bos": without_bos(attention, spans[..., 2]).mean(0),
            "hit_rate": hit.mean(0), "hit_rate_ci_low": hit_low, "null_hit_rate": null.mean(0),
            "p_value": p, "q_value": stats.adjust(p, "benjamini-hochberg"),
            "relation_index": torch.full_like(p, float(r_index)),
        }
