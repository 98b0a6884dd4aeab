"""Circuit discovery in EAP-IG's three steps: attribute every edge, select a circuit, evaluate it.

The circuit's size is chosen from a faithfulness curve: circuits of growing edge counts (greedy
selection from the logits, then pruning of dead ends) are evaluated by patching every edge
outside them with its corrupted value, and the smallest whose normalised faithfulness reaches
the target is kept (or the size the user asks for). Normalised faithfulness is
(metric(circuit) - metric(corrupted)) / (metric(clean) - metric(corrupted)).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from headdb.circuits import graph as g
from headdb.circuits.attribution import attribute, evaluate, graph_of, mean_outputs
from headdb.circuits.tasks import CircuitTask
from headdb.detectors.context import ModelContext

DEFAULT_TARGET = 0.8  # headdb's convention for "faithful": 80% of the clean-corrupted gap recovered


@dataclass(frozen=True)
class CircuitConfig:
    method: str = "eap-ig"  # or "eap"
    ig_steps: int = 5  # the step count Hanna et al.'s runs use
    selection: str = "greedy"  # or "top-n"
    target_faithfulness: float = DEFAULT_TARGET
    n_edges: int | None = None  # a fixed size instead of the target
    n_prompts: int = 32
    seed: int = 0
    ablation: str = "corrupted"  # removed edges carry the corrupted prompt's values, or "mean" ones


@dataclass
class CircuitResult:
    """Everything a discovery run produced, before it is stored."""

    task: CircuitTask
    config: CircuitConfig
    graph: g.Graph
    scores: torch.Tensor  # [senders, receivers]
    chosen: torch.Tensor  # bool, the circuit
    clean_metric: float
    corrupted_metric: float
    circuit_metric: float
    curve: list[tuple[int, float]]  # (edges, normalised faithfulness)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def faithfulness(self) -> float:
        return _normalise(self.circuit_metric, self.clean_metric, self.corrupted_metric)

    def nodes(self) -> set[str]:
        return g.nodes_of(self.chosen, self.graph)

    def heads(self) -> list[tuple[int, int]]:
        return sorted((int(n[1:].split(".h")[0]), int(n.split(".h")[1])) for n in self.nodes() if n.startswith("a"))

    def edges(self) -> list[tuple[str, str, float, bool]]:
        """Every existing edge: (sender, receiver, score, in circuit)."""
        mask = self.graph.mask()
        return [(self.graph.senders[s], self.graph.receivers[r], float(self.scores[s, r]), bool(self.chosen[s, r]))
                for s, r in mask.nonzero().tolist()]


def _normalise(value: float, clean: float, corrupted: float) -> float:
    gap = clean - corrupted
    return (value - corrupted) / gap if abs(gap) > 1e-9 else float("nan")


def _sizes(total: int) -> list[int]:
    """Edge counts to evaluate: dense at the small end, roughly doubling after."""
    sizes, n = [], 1
    while n < total:
        sizes.append(n)
        n = n + 1 if n < 8 else int(n * 1.5) + 1
    return sizes + [total]


def select(result_scores: torch.Tensor, graph: g.Graph, n: int, how: str) -> torch.Tensor:
    mask = graph.mask()
    chosen = g.greedy(result_scores, mask, n, graph) if how == "greedy" else g.top_n(result_scores, mask, n)
    return g.prune(chosen, graph)


def discover(ctx: ModelContext, task: CircuitTask, config: CircuitConfig, progress: Any = None) -> CircuitResult:
    graph = graph_of(ctx)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    scores = attribute(ctx, task, graph, config.method, config.ig_steps, config.ablation)
    timings["attribution_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    means = mean_outputs(ctx, task, graph) if config.ablation == "mean" else None

    def run(edges: torch.Tensor) -> float:
        return float(evaluate(ctx, task, graph, edges, config.ablation, means).mean())

    everything = graph.mask()
    clean = run(everything)
    corrupted = run(torch.zeros_like(everything))
    curve: list[tuple[int, float]] = []
    chosen = None
    sizes = [config.n_edges] if config.n_edges else _sizes(graph.n_edges)
    for n in sizes:
        candidate = select(scores, graph, n, config.selection)
        value = run(candidate)
        faith = _normalise(value, clean, corrupted)
        curve.append((int(candidate.sum()), faith))
        chosen, circuit_metric = candidate, value
        if config.n_edges is None and faith >= config.target_faithfulness:
            break
    timings["evaluation_s"] = time.perf_counter() - t1
    assert chosen is not None
    return CircuitResult(task, config, graph, scores, chosen, clean, corrupted, circuit_metric, curve, timings)
