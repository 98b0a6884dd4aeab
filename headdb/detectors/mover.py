"""Mover heads (Knowledge Circuits): move the subject's information to the last token."""

from __future__ import annotations

from headdb.detectors.base import DetectorMetadata, HeadTypeScores, register
from headdb.detectors.context import ModelContext
from headdb.detectors.knowledge import DATA, MAJORITY, PAPER, FactualDetector


@register
class MoverDetector(FactualDetector):
    metadata = DetectorMetadata(
        name="mover",
        version="1.0",
        head_types=("mover",),
        paper=PAPER,
        method="On factual prompts ('The official language of France is'): attention mass from the "
        "last token on the subject span, and whether the head's output at the last token, read "
        "through the unembedding, has the object or a subject token in its top 10 (Hit@10). "
        "Score = subject attention x Hit@10 rate.",
        data=DATA,
        label_rules={
            "mover": f"subject-span attention > {MAJORITY} and object-or-subject Hit@10 in more "
            f"than {MAJORITY:.0%} of prompts"
        },
    )

    def score(self, ctx: ModelContext) -> list[HeadTypeScores]:
        reads = self.reads(ctx)
        subject_attention = reads["spans"][..., 0].mean(0)
        promotes = (reads["object_hit"] | reads["subject_hit"]).float().mean(0)
        labels = (subject_attention > MAJORITY) & (promotes > MAJORITY)
        components = {
            "subject_attention": subject_attention,
            "object_or_subject_hit10": promotes,
            "object_hit10": reads["object_hit"].float().mean(0),
        }
        return [HeadTypeScores("mover", subject_attention * promotes, labels, components)]
