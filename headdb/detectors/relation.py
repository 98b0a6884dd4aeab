"""Relation heads (Knowledge Circuits): attend to the relation words and promote them."""

from __future__ import annotations

from headdb.detectors.base import DetectorMetadata, register
from headdb.detectors.knowledge import DATA, PAPER, FactualDetector


@register
class RelationDetector(FactualDetector):
    span, span_name = 1, "relation"
    hits = ("relation_hit",)
    null_hits = ("relation_hit_null",)
    metadata = DetectorMetadata(
        name="relation",
        version="2.0",
        head_types=("relation",),
        paper=PAPER,
        method="Per relation, on factual prompts the model knows: attention mass from the last token "
        "on the relation span ('official language'), raw and with BOS left out, and whether the head's "
        "output at the last token, read through the unembedding, has one of the relation's words "
        "(language, languages, speak, ...) in its top 10. Score = the mean over prompts of relation "
        "attention times the hit (0 or 1), for the head's best relation, so a head specific to one "
        "relation can be labelled.",
        data=DATA,
        null="the hit rate for the words of another relation (bootstrap means pooled over heads "
        "give an empirical p-value)",
        changes="2.0: scored per relation (1.0 pooled 4 relations) on facts the model knows, more "
        "templates, BOS-excluded attention reported, intervals and a shuffled-relation null.",
    )
