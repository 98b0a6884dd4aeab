"""Mover heads (Knowledge Circuits): move the subject's information to the last token."""

from __future__ import annotations

from headdb.detectors.base import DetectorMetadata, register
from headdb.detectors.knowledge import DATA, PAPER, FactualDetector


@register
class MoverDetector(FactualDetector):
    span, span_name = 0, "subject"
    hits = ("object_hit", "subject_hit")
    null_hits = ("object_hit_null", "subject_hit_null")
    metadata = DetectorMetadata(
        name="mover",
        version="2.0",
        head_types=("mover",),
        paper=PAPER,
        method="Per relation, on factual prompts the model knows: attention mass from the last token "
        "on the subject span (raw, and with BOS left out), and whether the head's output at the last "
        "token, read through the unembedding, has the object or a subject token in its top 10 "
        "(Hit@10, the read-out Knowledge Circuits uses). Score = the mean over prompts of subject "
        "attention times the hit (0 or 1), for the head's best relation. This reads attention and "
        "logit lens only; the circuit-mover detector defines mover heads inside a discovered circuit.",
        data=DATA,
        null="the hit rate for the object and subject of another prompt of the same relation "
        "(bootstrap means pooled over heads give an empirical p-value)",
        changes="2.0: scored per relation (1.0 pooled 4 relations) on facts the model knows, more "
        "templates, BOS-excluded attention reported, intervals and a shuffled-target null.",
    )
