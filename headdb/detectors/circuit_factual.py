"""Mover and relation heads as Knowledge Circuits defines them: roles inside a discovered circuit.

For every relation of the model's factual probes, a circuit is discovered with EAP-IG (one per
relation). A mover head is a head of that circuit whose attention from the last position goes
mostly to the subject and whose direct output raises the object's logit; a relation head is a
head of the circuit whose attention from the last position goes mostly to the relation's words.
Labels point to the circuit they were read from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from headdb import stats
from headdb.detectors.base import CONVENTION, Check, Detector, HeadTypeScores, decide
from headdb.detectors.circuit_base import CircuitDetectorConfig, circuit_of, end_reads, head_grid, task_of
from headdb.detectors.context import ModelContext
from headdb.detectors.datasets import DatasetUnavailable

DATA = ("per relation of the model's factual probes: clean prompts and corrupted twins with another "
        "subject of the same relation and a different object (equal token length)")


@dataclass(frozen=True)
class FactualCircuitConfig(CircuitDetectorConfig):
    # Subject and relation are the same in a prompt and its subject-swapped twin, so patching from
    # the twin cannot show relation heads; Knowledge Circuits ablates edges instead (to zero). Mean
    # ablation is headdb's choice: it removes what an edge carries without zero's off-scale inputs.
    ablation: str = "mean"


class CircuitFactualDetector(Detector):
    span: int  # 0: subject, 1: relation
    span_name: str
    needs_object_raise: bool
    Config = FactualCircuitConfig

    @classmethod
    def checks(cls, config: Any) -> dict[str, list[Check]]:
        checks = [
            Check("in_circuit", ">", 0.5, CONVENTION, "the head is a node of the relation's circuit (1 or 0)"),
            Check("attention_ci_low", ">", config.majority, CONVENTION,
                  f"lower end of the 95% interval of attention from the last token to the {cls.span_name} span"),
        ]
        if cls.needs_object_raise:
            checks.append(Check("object_dla_ci_low", ">", 0.0, CONVENTION,
                                "lower end of the 95% interval of the head's direct logit attribution to the object"))
        return {cls.metadata.head_types[0]: checks}

    def _relations(self, ctx: ModelContext) -> list[str]:
        usable = []
        for relation in sorted(ctx.view.probes.relations):
            try:
                task_of(ctx, f"factual:{relation}", self.config)
            except DatasetUnavailable:
                continue
            usable.append(relation)
        if not usable:
            raise DatasetUnavailable("no relation of the model's probes gives factual prompt pairs")
        return usable

    def data_fingerprints(self, ctx: ModelContext) -> dict[str, str]:
        return {r: task_of(ctx, f"factual:{r}", self.config).fingerprint for r in self._relations(ctx)}

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        c = self.config
        head_type = self.metadata.head_types[0]
        checks = self.checks(c)[head_type]
        best: dict[str, torch.Tensor] | None = None
        circuits = []
        for index, relation in enumerate(self._relations(ctx)):
            name = f"factual:{relation}"
            result = circuit_of(ctx, name, c)
            circuits.append(result)
            inside, mass = head_grid(result, ctx.n_layers, ctx.n_heads)
            spans, dla = end_reads(ctx, task_of(ctx, name, c))
            attention = spans[..., self.span]
            att_low, _ = stats.bootstrap_mean_ci(attention, c.calibration.n_boot, seed=c.calibration.seed)
            dla_low, _ = stats.bootstrap_mean_ci(dla, c.calibration.n_boot, seed=c.calibration.seed)
            comp = {"score": mass * inside, "in_circuit": inside.float(), "attention": attention.mean(0),
                    "attention_ci_low": att_low, "object_dla": dla.mean(0), "object_dla_ci_low": dla_low,
                    "circuit_index": torch.full_like(mass, float(index))}
            passed = torch.ones_like(inside)
            for check in checks:
                passed &= check.holds(comp)
            rank = comp["score"] + 1e6 * passed
            if best is None:
                best = {**comp, "_rank": rank}
            else:
                better = rank > best["_rank"]
                best = {k: torch.where(better, comp.get(k, rank), v) for k, v in best.items()}
        assert best is not None
        best.pop("_rank")
        result = decide(head_type, best.pop("score"), best, checks)
        result.circuits = circuits
        result.label_circuit = {(l, h): int(best["circuit_index"][l, h]) for l, h in result.labelled()}
        return [result]
