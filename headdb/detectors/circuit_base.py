"""Shared machinery of the circuit-defined detectors: discover a circuit with EAP-IG (memoised on
the context, so detectors reading one circuit share it) and ask which heads are in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from headdb.detectors.calibration import Calibration
from headdb.detectors.context import ModelContext
from headdb.detectors.shared import memo

if TYPE_CHECKING:  # headdb.circuits imports the detectors' context: import it lazily here
    from headdb.circuits.discover import CircuitConfig, CircuitResult
    from headdb.circuits.tasks import CircuitTask


@dataclass(frozen=True)
class CircuitDetectorConfig:
    n_prompts: int = 32
    seed: int = 0
    method: str = "eap-ig"
    ig_steps: int = 5
    target_faithfulness: float = 0.8
    ablation: str = "corrupted"
    majority: float = 0.5
    calibration: Calibration = field(default_factory=Calibration)

    def circuit(self) -> CircuitConfig:
        from headdb.circuits.discover import CircuitConfig

        return CircuitConfig(method=self.method, ig_steps=self.ig_steps, target_faithfulness=self.target_faithfulness,
                             n_prompts=self.n_prompts, seed=self.seed, ablation=self.ablation)


def task_of(ctx: ModelContext, name: str, config: CircuitDetectorConfig) -> CircuitTask:
    from headdb.circuits.tasks import build_task

    return memo(ctx, f"circuit_task:{name}:{config.n_prompts}:{config.seed}",
                lambda: build_task(ctx.view, name, config.n_prompts, config.seed))


def circuit_of(ctx: ModelContext, name: str, config: CircuitDetectorConfig) -> CircuitResult:
    from headdb.circuits.discover import discover

    return memo(ctx, f"circuit:{name}:{config.circuit()}", lambda: discover(ctx, task_of(ctx, name, config), config.circuit()))


def head_grid(result: CircuitResult, n_layers: int, n_heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Which heads are circuit nodes (bool), and each head's summed outgoing edge score in the
    circuit (how much of the behaviour runs through it) [layers, heads]."""
    inside = torch.zeros(n_layers, n_heads, dtype=torch.bool)
    for layer, head in result.heads():
        inside[layer, head] = True
    mass = torch.zeros(n_layers, n_heads)
    for s, _, score, chosen in result.edges():
        if chosen and s.startswith("a"):
            layer, head = (int(x) for x in s[1:].split(".h"))
            mass[layer, head] += score
    return inside, mass


def in_circuit_edge(result: CircuitResult, sender: str, receiver_prefix: str) -> bool:
    return any(chosen and s == sender and r.startswith(receiver_prefix) for s, r, _, chosen in result.edges())


def end_reads(ctx: ModelContext, task: CircuitTask) -> tuple[torch.Tensor, torch.Tensor]:
    """On the task's clean prompts: attention from the last position to the subject span, the
    relation span and BOS [n, layers, heads, 3], and each head's direct logit attribution to the
    correct answer (its write at the last position read through the unembedding, minus the mean
    logit) [n, layers, heads]."""
    from headdb.detectors import kernels

    def build() -> tuple[torch.Tensor, torch.Tensor]:
        subject, relation = task.meta["subject_mask"], task.meta["relation_mask"]
        spans, dla = [], []
        n = len(task)
        for start in range(0, n, ctx.batch_size):
            rows = slice(start, min(n, start + ctx.batch_size))
            end = task.end[rows]
            got: dict[str, dict[int, torch.Tensor]] = {"a": {}, "z": {}}

            def att(layer: int):  # type: ignore[no-untyped-def]
                def hook(p: torch.Tensor, hook: object) -> None:
                    r = kernels.attention_rows(p.detach(), end).float().cpu()
                    got["a"][layer] = torch.stack([kernels.span_mass(r, subject[rows]), kernels.span_mass(r, relation[rows]),
                                                   r[..., 0]], dim=-1)
                return hook

            def zs(layer: int):  # type: ignore[no-untyped-def]
                def hook(z: torch.Tensor, hook: object) -> None:
                    got["z"][layer] = z.detach()[torch.arange(z.shape[0]), end.to(z.device)].float()
                return hook

            hooks = [(f"blocks.{l}.attn.hook_pattern", att(l)) for l in range(ctx.n_layers)]
            hooks += [(f"blocks.{l}.attn.hook_z", zs(l)) for l in range(ctx.n_layers)]
            ctx.forward(task.clean[rows], hooks)
            spans.append(torch.stack([got["a"][l] for l in range(ctx.n_layers)], dim=1))
            correct = task.good[rows, 0].to(ctx.device)
            layer_dla = []
            for layer in range(ctx.n_layers):
                logits = ctx.unembed(ctx.z_to_out(layer, got["z"][layer]))  # [b, heads, vocab]
                picked = logits.gather(-1, correct[:, None, None].expand(-1, logits.shape[1], 1))[..., 0]
                layer_dla.append((picked - logits.mean(-1)).cpu())
            dla.append(torch.stack(layer_dla, dim=1))
        return torch.cat(spans), torch.cat(dla)

    return memo(ctx, f"circuit_end_reads:{task.fingerprint}", build)
