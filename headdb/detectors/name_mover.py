"""Name movers, negative name movers and backup name movers (Wang et al.) on IOI prompts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from headdb import stats
from headdb.detectors.base import CONVENTION, Check, Detector, DetectorMetadata, HeadTypeScores, register
from headdb.detectors.calibration import Calibration, effect_checks, effect_result
from headdb.detectors.context import ModelContext
from headdb.detectors.shared import copy_scores, direct_effects, ioi_data, ioi_passes, knockout, logit_diff, memo

WANG_BACKUP = "Wang et al. 2023, Appendix F"  # "an effect size above the threshold of 2%"
EFFECT_FLOOR = 0.05  # headdb convention: 5% of the clean logit difference


@dataclass(frozen=True)
class IOIEffects:
    """Everything the IOI detectors share: per-prompt direct effects and their normaliser."""

    clean_logit_diff: float  # mean over prompts of logit(IO) - logit(S)
    direct: torch.Tensor  # [n, layers, heads]: fraction of the clean logit difference
    io_minus_s: torch.Tensor  # [n, layers, heads]: attention END->IO minus END->(S1+S2)
    copy: torch.Tensor
    negative_copy: torch.Tensor


def ioi_effects(ctx: ModelContext, n_prompts: int, seed: int, top_k: int) -> IOIEffects:
    def build() -> IOIEffects:
        prompts = ioi_data(ctx, n_prompts, seed)
        clean, abc = ioi_passes(ctx, prompts)
        base = float(logit_diff(ctx, clean.final_resid, prompts).mean())
        scale = base if base > 0 else 1.0
        copy, negative = copy_scores(ctx, prompts, clean, top_k)
        att = clean.attention
        return IOIEffects(base, direct_effects(ctx, prompts, clean, abc) / scale,
                          att[..., 0] - att[..., 1] - att[..., 2], copy, negative)

    return memo(ctx, f"ioi_effects:{n_prompts}:{seed}:{top_k}", build)


@register
class NameMoverDetector(Detector):
    metadata = DetectorMetadata(
        name="name-mover",
        version="2.0",
        head_types=("name-mover", "negative-name-mover", "backup-name-mover"),
        paper="2023-interpretability-wild-circuit-indirect-object",
        method="On IOI prompts (both name orders) and their ABC corruption: each head's direct effect "
        "on logit(IO) - logit(S), by path patching its output at the final position from the ABC "
        "prompt into the final residual stream only (final norm recomputed), as a fraction of the "
        "clean logit difference. Then the copy score (Wang et al.: block 0's output at each name, "
        "through the head's ln1 and OV circuit with b_V and the final norm into the unembedding; the "
        "fraction of names in the top 5 logits; negated OV for the negative score) and the final "
        "position's attention to IO against S1 + S2. Backup name movers: the labelled name movers' "
        "outputs are replaced by their ABC values and every other head's direct effect is measured "
        "again; a backup is a head whose direct effect grows and that then behaves as a name mover "
        "(attends to IO over S, copies names).",
        data="IOI prompts from the model's templates (half IO-first, half S-first), single-token names",
        null="one-sided t-tests over prompts of the per-prompt effects against zero, Holm-adjusted "
        "over all heads tested",
        score_range=(-1.0, 1.0),
        changes="2.0: direct effect by path patching to the logits replaces 'attention to IO x copy "
        "score'; both name orders; backup name movers; intervals, t-tests, Holm, effect floors.",
    )

    @dataclass(frozen=True)
    class Config:
        n_prompts: int = 64
        seed: int = 0
        effect_floor: float = EFFECT_FLOOR
        backup_floor: float = 0.02
        copy_floor: float = 0.5
        top_k: int = 5
        calibration: Calibration = field(default_factory=Calibration)

    @classmethod
    def checks(cls, config: Any) -> dict[str, list[Check]]:
        cal = config.calibration
        attention = Check("io_over_s_ci_low", ">", 0.0, CONVENTION,
                          "lower end of the 95% interval of attention to IO minus attention to S1 + S2")
        return {
            "name-mover": [*effect_checks(cal, config.effect_floor, CONVENTION), attention,
                           Check("copy", ">", config.copy_floor, CONVENTION, "copy score (top 5)")],
            "negative-name-mover": [*effect_checks(cal, config.effect_floor, CONVENTION, direction=-1), attention,
                                    Check("negative_copy", ">", config.copy_floor, CONVENTION, "negative copy score (top 5)")],
            "backup-name-mover": [
                *effect_checks(cal, config.backup_floor, WANG_BACKUP,
                               what="growth of the direct effect when the name movers are knocked out, "
                               "as a fraction of the clean logit difference"),
                Check("io_over_s_after_knockout_ci_low", ">", 0.0, CONVENTION,
                      "lower end of the 95% interval of attention to IO minus S1 + S2 with the name movers knocked out"),
                Check("copy", ">", config.copy_floor, CONVENTION, "copy score (top 5)"),
            ],
        }

    def data_fingerprints(self, ctx: ModelContext) -> dict[str, str]:
        return {"ioi": ioi_data(ctx, self.config.n_prompts, self.config.seed).fingerprint}

    def effects(self, ctx: ModelContext) -> IOIEffects:
        return ioi_effects(ctx, self.config.n_prompts, self.config.seed, self.config.top_k)

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        c = self.config
        checks = self.checks(c)
        fx = self.effects(ctx)
        solved = fx.clean_logit_diff > 0  # a model that prefers S has no name movers to find
        low, _ = stats.bootstrap_mean_ci(fx.io_minus_s, c.calibration.n_boot, seed=c.calibration.seed)
        shared = {"io_over_s_ci_low": low, "io_over_s": fx.io_minus_s.mean(0), "copy": fx.copy,
                  "negative_copy": fx.negative_copy,
                  "clean_logit_diff": torch.full_like(fx.copy, fx.clean_logit_diff)}
        everyone = torch.ones(ctx.n_layers, ctx.n_heads, dtype=torch.bool)
        movers = effect_result("name-mover", fx.direct, everyone, c.effect_floor, CONVENTION, c.calibration,
                               extra=shared, checks=checks["name-mover"], allowed=solved)
        negative = effect_result("negative-name-mover", fx.direct, everyone, c.effect_floor, CONVENTION, c.calibration,
                                 direction=-1, extra=shared, checks=checks["negative-name-mover"], allowed=solved)
        return [movers, negative, self._backups(ctx, fx, movers.labelled(), shared, checks["backup-name-mover"])]

    def _backups(self, ctx: ModelContext, fx: IOIEffects, primary: list[tuple[int, int]],
                 shared: dict[str, torch.Tensor], checks: list[Check]) -> HeadTypeScores:
        c = self.config
        tested = torch.ones(ctx.n_layers, ctx.n_heads, dtype=torch.bool)
        for layer, head in primary:
            tested[layer, head] = False
        if not primary:  # nothing to knock out: no backup can show
            growth = torch.zeros_like(fx.direct)
            tested[:] = False
            shared = {**shared, "io_over_s_after_knockout_ci_low": torch.zeros_like(fx.copy)}
        else:
            prompts = ioi_data(ctx, c.n_prompts, c.seed)
            _, abc = ioi_passes(ctx, prompts)
            knocked = knockout(ctx, prompts, primary, abc)
            scale = fx.clean_logit_diff if fx.clean_logit_diff > 0 else 1.0
            after = direct_effects(ctx, prompts, knocked, abc) / scale
            growth = after - fx.direct
            att = knocked.attention
            low, _ = stats.bootstrap_mean_ci(att[..., 0] - att[..., 1] - att[..., 2], c.calibration.n_boot,
                                             seed=c.calibration.seed)
            shared = {**shared, "effect_after_knockout": after.mean(0), "io_over_s_after_knockout_ci_low": low}
        return effect_result("backup-name-mover", growth, tested, c.backup_floor, WANG_BACKUP, c.calibration,
                             extra=shared, checks=checks)


def name_mover_heads(ctx: ModelContext, config: NameMoverDetector.Config) -> tuple[list[tuple[int, int]], list[HeadTypeScores]]:
    """The labelled name movers (shared with S-inhibition, which needs them as receivers)."""
    scores = memo(ctx, f"name_mover_scores:{config}", lambda: NameMoverDetector(config).score(ctx))
    return scores[0].labelled(), scores
