"""Name movers and S-inhibition heads as roles inside the discovered IOI circuit."""

from __future__ import annotations

from typing import Any

import torch

from headdb import stats
from headdb.detectors.base import CONVENTION, Check, Detector, DetectorMetadata, HeadTypeScores, decide, register
from headdb.detectors.circuit_base import CircuitDetectorConfig, circuit_of, head_grid, in_circuit_edge, task_of
from headdb.detectors.context import ModelContext
from headdb.detectors.name_mover import ioi_effects
from headdb.detectors.shared import ioi_data, ioi_passes


@register
class CircuitIOIDetector(Detector):
    metadata = DetectorMetadata(
        name="circuit-ioi",
        version="1.0",
        head_types=("name-mover", "s-inhibition"),
        paper="2023-interpretability-wild-circuit-indirect-object",
        method="The IOI circuit discovered with EAP-IG (5 steps, greedy selection, the smallest circuit "
        "whose normalised faithfulness reaches 0.8) on IOI prompts and their ABC corruption. Name movers "
        "are circuit heads with a circuit edge into the logits that attend to IO over S and whose direct "
        "effect (path patching to the logits) raises logit(IO) - logit(S); S-inhibition heads are circuit "
        "heads with a circuit edge into a name mover's query whose attention to S2 is higher on the clean "
        "than on the ABC prompt. Score: the summed attribution of the head's circuit edges.",
        data="IOI prompts (both name orders) and their ABC corruption, from the model's probes",
        null="none: circuit membership comes from attribution and faithfulness; attention and direct "
        "effects carry 95% bootstrap intervals",
        score_range=(-1.0, 1.0),
        in_default_suite=False,
    )
    Config = CircuitDetectorConfig

    @classmethod
    def checks(cls, config: Any) -> dict[str, list[Check]]:
        return {
            "name-mover": [
                Check("writes_to_logits", ">", 0.5, CONVENTION, "a circuit edge into the logits (1 or 0)"),
                Check("io_over_s_ci_low", ">", 0.0, CONVENTION,
                      "lower end of the 95% interval of attention to IO minus attention to S1 + S2"),
                Check("direct_effect_ci_low", ">", 0.0, CONVENTION,
                      "lower end of the 95% interval of the direct effect on logit(IO) - logit(S)"),
            ],
            "s-inhibition": [
                Check("writes_to_mover_query", ">", 0.5, CONVENTION,
                      "a circuit edge into the query of a circuit name mover (1 or 0)"),
                Check("s2_attention_gain_ci_low", ">", 0.0, CONVENTION,
                      "lower end of the 95% interval of attention to S2 on clean minus ABC prompts"),
            ],
        }

    def data_fingerprints(self, ctx: ModelContext) -> dict[str, str]:
        return {"ioi": task_of(ctx, "ioi", self.config).fingerprint}

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        c = self.config
        result = circuit_of(ctx, "ioi", c)
        _, mass = head_grid(result, ctx.n_layers, ctx.n_heads)
        prompts = ioi_data(ctx, c.n_prompts, c.seed)
        clean, abc = ioi_passes(ctx, prompts)
        fx = ioi_effects(ctx, c.n_prompts, c.seed, 5)
        boot = lambda v: stats.bootstrap_mean_ci(v, c.calibration.n_boot, seed=c.calibration.seed)[0]  # noqa: E731
        to_logits = torch.zeros(ctx.n_layers, ctx.n_heads)
        for l in range(ctx.n_layers):
            for h in range(ctx.n_heads):
                to_logits[l, h] = float(in_circuit_edge(result, f"a{l}.h{h}", "logits"))
        checks = self.checks(c)
        movers_comp = {"writes_to_logits": to_logits, "io_over_s_ci_low": boot(fx.io_minus_s),
                       "direct_effect_ci_low": boot(fx.direct)}
        movers = decide("name-mover", mass, movers_comp, checks["name-mover"])
        to_query = torch.zeros_like(to_logits)
        for l in range(ctx.n_layers):
            for h in range(ctx.n_heads):
                to_query[l, h] = float(any(in_circuit_edge(result, f"a{l}.h{h}", f"a{ml}.h{mh}<q>")
                                           for ml, mh in movers.labelled()))
        gain = clean.attention[..., 2] - abc.attention[..., 2]
        inhibitors = decide("s-inhibition", mass, {"writes_to_mover_query": to_query,
                                                   "s2_attention_gain_ci_low": boot(gain)}, checks["s-inhibition"])
        for scores in (movers, inhibitors):
            scores.circuits = [result]
            scores.label_circuit = {coord: 0 for coord in scores.labelled()}
        return [movers, inhibitors]
