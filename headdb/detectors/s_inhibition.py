"""S-inhibition heads: their output at the final position tells the name movers which name not to
move. Found as Wang et al. found them: path patching from each head into the name movers' queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from headdb import stats
from headdb.detectors.base import CONVENTION, Check, Detector, DetectorMetadata, HeadTypeScores, register
from headdb.detectors.calibration import Calibration, effect_checks, effect_result
from headdb.detectors.context import ModelContext
from headdb.detectors.datasets import PromptSet
from headdb.detectors.name_mover import EFFECT_FLOOR, NameMoverDetector, name_mover_heads
from headdb.detectors.shared import IOIPass, ioi_data, ioi_passes, logit_diff

Head = tuple[int, int]


@contextmanager
def split_queries(ctx: ModelContext) -> Iterator[None]:
    """Give every head its own copy of the residual stream as query input (``hook_q_input``)."""
    ctx.bridge.set_use_split_qkv_input(True)
    try:
        yield
    finally:
        ctx.bridge.set_use_split_qkv_input(False)


def _deltas(clean: IOIPass, abc: IOIPass, senders: list[Head]) -> torch.Tensor:
    """Each sender's change of output at END from clean to ABC: [n, senders, d_model]."""
    return torch.stack([abc.out[:, l, h] - clean.out[:, l, h] for l, h in senders], dim=1)


def attribution_scan(ctx: ModelContext, prompts: PromptSet, clean: IOIPass, abc: IOIPass,
                     senders: list[Head], receivers: list[Head]) -> torch.Tensor:
    """Linearised path-patching effects of every sender at once: the gradient of
    logit(IO) - logit(S) with respect to each receiver's query input at END, dotted with the
    sender's output change. Returns the estimated drop [n, senders]."""
    deltas = _deltas(clean, abc, senders)
    out = torch.zeros(len(prompts), len(senders))
    n = len(prompts)
    with split_queries(ctx):
        for start in range(0, n, ctx.batch_size):
            rows = slice(start, min(n, start + ctx.batch_size))
            end = prompts.index["end"][rows]
            leaves: dict[int, torch.Tensor] = {}

            def grab(layer: int):  # type: ignore[no-untyped-def]
                def hook(q_in: torch.Tensor, hook: Any) -> torch.Tensor:
                    leaf = q_in.detach().requires_grad_(True)
                    leaves[layer] = leaf
                    return leaf
                return hook

            layers = sorted({l for l, _ in receivers})
            with torch.enable_grad():
                logits = ctx.bridge.run_with_hooks(
                    prompts.tokens[rows].to(ctx.device),
                    fwd_hooks=[(f"blocks.{l}.attn.hook_q_input", grab(l)) for l in layers],
                    return_type="logits",
                )
                idx = torch.arange(logits.shape[0], device=logits.device)
                last = logits[idx, end.to(logits.device)].float()
                ld = last.gather(1, prompts.index["io_token"][rows, None].to(last.device)) - \
                    last.gather(1, prompts.index["s_token"][rows, None].to(last.device))
                ld.sum().backward()
            for j, (sl, _) in enumerate(senders):
                total = torch.zeros(rows.stop - rows.start)
                for rl, rh in receivers:
                    if sl < rl:
                        g = leaves[rl].grad[idx, end.to(idx.device), rh].float().cpu()  # type: ignore[index]
                        total += (g * deltas[rows, j]).sum(-1)
                out[rows, j] = -total
    return out


def exact_path_patching(ctx: ModelContext, prompts: PromptSet, clean: IOIPass, abc: IOIPass,
                        senders: list[Head], receivers: list[Head]) -> torch.Tensor:
    """Path patching sender -> receivers' queries, batched over (prompt, sender) rows: each row
    adds its sender's output change at END to the query input of every receiver in a later layer,
    and the rest of the network runs as usual. Returns the drop of logit(IO) - logit(S) [n, senders]."""
    deltas = _deltas(clean, abc, senders)
    base = logit_diff(ctx, clean.final_resid, prompts)
    n, c = len(prompts), len(senders)
    prompt_of = torch.arange(n).repeat_interleave(c)
    sender_of = torch.arange(c).repeat(n)
    sender_layer = torch.tensor([l for l, _ in senders])
    result = torch.empty(n * c)
    step = max(1, ctx.batch_size * 2)
    with split_queries(ctx):
        for start in range(0, n * c, step):
            rows = slice(start, min(n * c, start + step))
            p_rows, s_rows = prompt_of[rows], sender_of[rows]
            end = prompts.index["end"][p_rows]
            add = deltas[p_rows, s_rows]  # [r, d_model]

            def patch(layer: int):  # type: ignore[no-untyped-def]
                heads = [h for l, h in receivers if l == layer]
                active = (sender_layer[s_rows] < layer)

                def hook(q_in: torch.Tensor, hook: Any) -> torch.Tensor:
                    q_in = q_in.clone()
                    idx = torch.arange(q_in.shape[0], device=q_in.device)
                    delta = (add * active[:, None]).to(q_in)
                    for h in heads:
                        q_in[idx, end.to(q_in.device), h] += delta
                    return q_in
                return hook

            layers = sorted({l for l, _ in receivers})
            logits = ctx.logits(prompts.tokens[p_rows], [(f"blocks.{l}.attn.hook_q_input", patch(l)) for l in layers])
            last = logits[torch.arange(logits.shape[0]), end]
            ld = last.gather(1, prompts.index["io_token"][p_rows, None]) - last.gather(1, prompts.index["s_token"][p_rows, None])
            result[rows] = base[p_rows] - ld[:, 0]
            if ctx.progress:
                ctx.progress("ioi path patching", min(n * c, start + step), n * c)
    return result.view(n, c)


@register
class SInhibitionDetector(Detector):
    metadata = DetectorMetadata(
        name="s-inhibition",
        version="2.0",
        head_types=("s-inhibition",),
        paper="2023-interpretability-wild-circuit-indirect-object",
        method="Path patching (Wang et al.) from each head into the name movers' queries: the head's "
        "output at the final position is changed to its value on the ABC prompt only in the query "
        "input of the name movers (the heads the name-mover detector labels), the rest of the network "
        "runs as usual, and the drop of logit(IO) - logit(S) is measured as a fraction of the clean "
        "difference. Candidates are scanned first with attribution patching (gradient at the name "
        "movers' queries times the output change, all heads from one backward pass) and the highest "
        "are confirmed exactly; only confirmed heads can be labelled. Attention check: the final "
        "position's attention to S2 on the clean prompt minus on the ABC prompt (where S2 is a new "
        "name), which a head that merely attends to recent names does not pass.",
        data="IOI prompts (both name orders) and their ABC corruption",
        null="one-sided t-tests over prompts of the per-prompt path-patching effects against zero, "
        "Holm-adjusted over all candidate heads",
        score_range=(-1.0, 1.0),
        changes="2.0: path patching into the name movers' queries (1.0: activation patching read at "
        "their attention); attribution scan with exact confirmation; effect floor; Holm; the "
        "recency-controlled attention check (1.0: attends S2 more than IO).",
    )

    @dataclass(frozen=True)
    class Config:
        n_prompts: int = 64
        seed: int = 0
        effect_floor: float = EFFECT_FLOOR
        scan: bool = True  # False: exact path patching for every candidate
        confirm_top_k: int = 8
        calibration: Calibration = field(default_factory=Calibration)

    @classmethod
    def checks(cls, config: Any) -> dict[str, list[Check]]:
        return {"s-inhibition": [
            *effect_checks(config.calibration, config.effect_floor, CONVENTION,
                           what="mean path-patching effect through the name movers' queries, as a fraction of "
                           "the clean logit difference"),
            Check("s2_attention_gain_ci_low", ">", 0.0, CONVENTION,
                  "lower end of the 95% interval of attention to S2 on clean minus ABC prompts"),
        ]}

    def _nm_config(self) -> NameMoverDetector.Config:
        return NameMoverDetector.Config(n_prompts=self.config.n_prompts, seed=self.config.seed,
                                        calibration=self.config.calibration)

    def data_fingerprints(self, ctx: ModelContext) -> dict[str, str]:
        return NameMoverDetector(self._nm_config()).data_fingerprints(ctx)

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        c = self.config
        prompts = ioi_data(ctx, c.n_prompts, c.seed)
        clean, abc = ioi_passes(ctx, prompts)
        receivers, nm_scores = name_mover_heads(ctx, self._nm_config())
        labelled = bool(receivers)
        if not receivers:  # rank against the strongest direct effects, but label nothing
            receivers = nm_scores[0].top(3)
        top = max(l for l, _ in receivers)
        senders = [(l, h) for l in range(top) for h in range(ctx.n_heads) if (l, h) not in receivers]
        candidates = torch.zeros(ctx.n_layers, ctx.n_heads, dtype=torch.bool)
        for l, h in senders:
            candidates[l, h] = True
        base = float(logit_diff(ctx, clean.final_resid, prompts).mean())
        scale = base if base > 0 else 1.0
        estimate = torch.zeros(len(prompts), ctx.n_layers, ctx.n_heads)
        exact = torch.zeros_like(estimate)
        confirmed = torch.zeros_like(candidates)
        if senders:
            if c.scan:
                scanned = attribution_scan(ctx, prompts, clean, abc, senders, receivers) / scale
                means = scanned.mean(0)
                order = means.argsort(descending=True).tolist()
                chosen = {senders[i] for i in order[: c.confirm_top_k]}
                chosen |= {senders[i] for i in range(len(senders)) if float(means[i]) >= c.effect_floor / 2}
                for j, (l, h) in enumerate(senders):
                    estimate[:, l, h] = scanned[:, j]
            else:
                chosen = set(senders)
            to_confirm = [s for s in senders if s in chosen]
            exact_values = exact_path_patching(ctx, prompts, clean, abc, to_confirm, receivers) / scale
            for j, (l, h) in enumerate(to_confirm):
                exact[:, l, h] = exact_values[:, j]
                confirmed[l, h] = True
        gain = clean.attention[..., 2] - abc.attention[..., 2]
        gain_low, _ = stats.bootstrap_mean_ci(gain, c.calibration.n_boot, seed=c.calibration.seed)
        extra = {
            "s2_attention_gain_ci_low": gain_low,
            "s2_attention_gain": gain.mean(0),
            "attribution_estimate": estimate.mean(0),
            "confirmed_exactly": confirmed.float(),
            "receivers_labelled": torch.full((ctx.n_layers, ctx.n_heads), float(labelled)),
        }
        result = effect_result("s-inhibition", exact, candidates, c.effect_floor, CONVENTION, c.calibration,
                               extra=extra, checks=self.checks(c)["s-inhibition"],
                               allowed=confirmed & torch.tensor(labelled))
        # Unconfirmed candidates keep their scan estimate as score (for ranking only), with no interval.
        result.scores = torch.where(confirmed, result.scores, estimate.mean(0))
        if result.ci_low is not None and result.ci_high is not None:
            result.ci_low = torch.where(confirmed, result.ci_low, result.scores)
            result.ci_high = torch.where(confirmed, result.ci_high, result.scores)
        return [result]
