"""Mover heads read from per-relation circuits (Knowledge Circuits' definition)."""

from __future__ import annotations

from headdb.detectors.base import DetectorMetadata, register
from headdb.detectors.circuit_factual import DATA, CircuitFactualDetector
from headdb.detectors.knowledge import PAPER


@register
class CircuitMoverDetector(CircuitFactualDetector):
    span, span_name, needs_object_raise = 0, "subject", True
    metadata = DetectorMetadata(
        name="circuit-mover",
        version="1.1",
        head_types=("mover",),
        paper=PAPER,
        method="Per relation, a circuit discovered with EAP-IG (5 steps, mean ablation, greedy selection, the smallest "
        "circuit whose normalised faithfulness reaches 0.8) on the object's log-probability (1.0 used "
        "the logit difference against a same-relation twin's object). A mover head is a node of the circuit "
        "whose attention from the last position goes mostly to the subject and whose direct logit "
        "attribution to the object is positive; it is read from the head's best relation. Score: the "
        "summed attribution of the head's edges in that circuit.",
        data=DATA,
        null="none: circuit membership comes from attribution and faithfulness; attention and logit "
        "attribution carry 95% bootstrap intervals",
        score_range=(-1.0, 1.0),
        in_default_suite=False,
    )
