"""S-inhibition heads: attend to the repeated subject and stop name movers attending to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from headdb.detectors import kernels
from headdb.detectors.base import Detector, DetectorMetadata, HeadTypeScores, register
from headdb.detectors.context import Capture, ModelContext
from headdb.detectors.datasets import PromptSet
from headdb.detectors.name_mover import NameMoverDetector, name_mover_scores
from headdb.detectors.shared import ioi_data, ioi_end_attention, z_at_end

SIGNIFICANCE = 2.0  # effect must exceed two standard errors over prompts


def patching_effects(
    ctx: ModelContext,
    prompts: PromptSet,
    candidates: list[tuple[int, int]],
    movers: list[tuple[int, int]],
) -> torch.Tensor:
    """Activation patching, batched over candidate heads: for every (prompt, candidate) row, the
    candidate's output at the final position is replaced by its value on the corrupted (ABC)
    prompt, and the movers' attention from the final position to S1+S2 is read.

    Returns the change against the clean run, averaged over movers: [prompts, candidates]."""
    z_capture = [Capture("ioi_z_end", "attn.hook_z", z_at_end)]
    clean_attention = ioi_end_attention(ctx, prompts)  # [n, layers, heads, 3]
    corrupted_z = ctx.capture(prompts, z_capture, tokens=prompts.index["corrupted_tokens"], tag="corrupted")["ioi_z_end"]

    n, c = len(prompts), len(candidates)
    prompt_of_row = torch.arange(n).repeat_interleave(c)
    cand_of_row = torch.arange(c).repeat(n)
    cand_layer = torch.tensor([layer for layer, _ in candidates])
    cand_head = torch.tensor([head for _, head in candidates])
    clean = torch.stack([clean_attention[:, l, h, 1:].sum(-1) for l, h in movers], dim=1).mean(1)  # [n]

    result = torch.empty(n * c)
    step = max(1, ctx.batch_size * 4)
    for start in range(0, n * c, step):
        rows = slice(start, min(n * c, start + step))
        p_rows, c_rows = prompt_of_row[rows], cand_of_row[rows]
        patched = _patched_mover_attention(
            ctx, prompts, p_rows, cand_layer[c_rows], cand_head[c_rows], corrupted_z, movers
        )
        result[rows] = patched - clean[p_rows]
        if ctx.progress:
            ctx.progress("ioi patching", min(n * c, start + step), n * c)
    return result.view(n, c)


def _patched_mover_attention(
    ctx: ModelContext,
    prompts: PromptSet,
    p_rows: torch.Tensor,
    layers: torch.Tensor,
    heads: torch.Tensor,
    corrupted_z: torch.Tensor,
    movers: list[tuple[int, int]],
) -> torch.Tensor:
    """One batched pass: row i is prompt p_rows[i] with head (layers[i], heads[i]) patched at the
    final position. Returns the movers' mean attention from the final position to S1+S2: [rows]."""
    end = prompts.index["end"][p_rows]
    s_positions = torch.stack([prompts.index["s1"], prompts.index["s2"]], dim=1)[p_rows]
    read: dict[int, torch.Tensor] = {}

    def patch(layer: int):  # type: ignore[no-untyped-def]
        which = (layers == layer).nonzero().flatten()
        replacement = corrupted_z[p_rows[which], layer, heads[which]]  # [r, d_head]

        def hook(z: torch.Tensor, hook: Any) -> torch.Tensor:
            z = z.clone()
            z[which.to(z.device), end[which].to(z.device), heads[which].to(z.device)] = replacement.to(z)
            return z

        return hook

    def reader(layer: int):  # type: ignore[no-untyped-def]
        def hook(pattern: torch.Tensor, hook: Any) -> None:
            rows = kernels.attention_rows(pattern, end)  # [r, heads, k]
            picks = s_positions[:, None, :].expand(-1, rows.shape[1], -1).to(pattern.device)
            read[layer] = rows.gather(-1, picks).sum(-1).float().cpu()

        return hook

    hooks = [(f"blocks.{layer}.attn.hook_z", patch(layer)) for layer in sorted(set(layers.tolist()))]
    hooks += [(f"blocks.{layer}.attn.hook_pattern", reader(layer)) for layer in sorted({l for l, _ in movers})]
    ctx.forward(prompts.tokens[p_rows], hooks)
    return torch.stack([read[l][:, h] for l, h in movers], dim=1).mean(1)


@register
class SInhibitionDetector(Detector):
    metadata = DetectorMetadata(
        name="s-inhibition",
        version="1.0",
        head_types=("s-inhibition",),
        paper="2023-interpretability-wild-circuit-indirect-object",
        method="On IOI prompts: attention from the final token to S2 versus IO, and the causal "
        "effect of the head's output at the final token on the name movers' attention to the "
        "subject, by activation patching from ABC-corrupted prompts (S2 replaced by a third "
        "name). All candidate heads in layers below the name movers are patched in one batched "
        "pass. Name movers are those the name-mover detector labels (its best 3 for ranking "
        "when it labels none). Score = mean increase of the movers' attention to S.",
        data="IOI prompts and their ABC corruption, from 5 templates with single-token names",
        label_rules={
            "s-inhibition": "the model has labelled name movers; patching the head raises their "
            f"attention to S by more than {SIGNIFICANCE:g} standard errors; and the head attends "
            "more to S2 than to IO"
        },
    )

    @dataclass(frozen=True)
    class Config:
        n_prompts: int = 32
        seed: int = 0

    def _nm_config(self) -> NameMoverDetector.Config:
        return NameMoverDetector.Config(n_prompts=self.config.n_prompts, seed=self.config.seed)

    def data_fingerprints(self, ctx: ModelContext) -> dict[str, str]:
        return NameMoverDetector(self._nm_config()).data_fingerprints(ctx)

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        prompts = ioi_data(ctx, self.config.n_prompts, self.config.seed)
        movers, movers_labelled = NameMoverDetector.movers(name_mover_scores(ctx, self._nm_config()))
        attention = ioi_end_attention(ctx, prompts).mean(0)
        to_io, to_s2 = attention[..., 0], attention[..., 2]
        top_layer = max(layer for layer, _ in movers)
        candidates = [(l, h) for l in range(top_layer) for h in range(ctx.n_heads)]
        effect = torch.zeros(ctx.n_layers, ctx.n_heads)
        stderr = torch.zeros(ctx.n_layers, ctx.n_heads)
        if candidates:
            mean, se = kernels.mean_and_stderr(patching_effects(ctx, prompts, candidates, movers), dim=0)
            for (l, h), m, s in zip(candidates, mean.tolist(), se.tolist(), strict=True):
                effect[l, h], stderr[l, h] = m, s
        labels = (effect > SIGNIFICANCE * stderr) & (effect > 0) & (to_s2 > to_io)
        if not movers_labelled:
            labels[:] = False
        return [
            HeadTypeScores(
                "s-inhibition",
                effect,
                labels,
                {"effect": effect, "effect_stderr": stderr, "attention_s2": to_s2, "attention_io": to_io},
            )
        ]

