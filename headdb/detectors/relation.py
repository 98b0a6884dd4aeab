"""Relation heads (Knowledge Circuits): attend to the relation words and promote them."""

from __future__ import annotations

from headdb.detectors.base import DetectorMetadata, HeadTypeScores, register
from headdb.detectors.context import ModelContext
from headdb.detectors.knowledge import DATA, MAJORITY, PAPER, FactualDetector


@register
class RelationDetector(FactualDetector):
    metadata = DetectorMetadata(
        name="relation",
        version="1.0",
        head_types=("relation",),
        paper=PAPER,
        method="On factual prompts: attention mass from the last token on the relation span "
        "('official language'), and whether the head's output at the last token, read through the "
        "unembedding, has one of the relation's words (language, languages, speak, ...) in its top "
        "10. Score = relation attention x hit rate.",
        data=DATA,
        label_rules={
            "relation": f"relation-span attention > {MAJORITY} and a relation word in the top 10 "
            f"in more than {MAJORITY:.0%} of prompts"
        },
    )

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        reads = self.reads(ctx)
        relation_attention = reads["spans"][..., 1].mean(0)
        promotes = reads["relation_hit"].float().mean(0)
        labels = (relation_attention > MAJORITY) & (promotes > MAJORITY)
        components = {"relation_attention": relation_attention, "relation_word_hit10": promotes}
        return [HeadTypeScores("relation", relation_attention * promotes, labels, components)]
