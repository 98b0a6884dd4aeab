"""Relation heads read from per-relation circuits (Knowledge Circuits' definition)."""

from __future__ import annotations

from headdb.detectors.base import DetectorMetadata, register
from headdb.detectors.circuit_factual import DATA, CircuitFactualDetector
from headdb.detectors.knowledge import PAPER


@register
class CircuitRelationDetector(CircuitFactualDetector):
    span, span_name, needs_object_raise = 1, "relation", False
    metadata = DetectorMetadata(
        name="circuit-relation",
        version="1.1",
        head_types=("relation",),
        paper=PAPER,
        method="Per relation, a circuit discovered with EAP-IG (as circuit-mover). A relation head is a "
        "node of the circuit whose attention from the last position goes mostly to the relation's "
        "words, read from the head's best relation. Score: the summed attribution of its edges in the "
        "circuit.",
        data=DATA,
        null="none: circuit membership comes from attribution and faithfulness; attention carries a "
        "95% bootstrap interval",
        score_range=(-1.0, 1.0),
        in_default_suite=False,
    )
