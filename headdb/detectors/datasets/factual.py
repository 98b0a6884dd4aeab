"""Factual prompts built from (subject, relation, object) facts, as in Knowledge Circuits.

"The official language of France is" -> French. Every relation has several templates; each
prompt records its relation, the positions of the subject span and of the relation span, the
object's first token, and the relation's own words (what a relation head's output promotes).
Facts and templates come from the model's probes (English world facts by default).
"""

from __future__ import annotations

import torch

from headdb.detectors.datasets import DatasetUnavailable, PromptSet
from headdb.detectors.datasets.tokens import TokenizerView, build_prompt, pad_batch

MIN_PER_RELATION = 8


def factual_prompts(view: TokenizerView) -> PromptSet:
    relations = view.probes.relations
    names = sorted(relations)
    prompts, rows = [], []
    for r_index, name in enumerate(names):
        relation = relations[name]
        for template in relation.templates:
            if relation.relation_span not in template:
                continue
            for subject, obj in relation.facts:
                text = template.replace("{S}", subject)
                s_start = text.index(subject)
                r_start = text.index(relation.relation_span)
                marks = {
                    "subject": (s_start, s_start + len(subject)),
                    "relation": (r_start, r_start + len(relation.relation_span)),
                    "end": (len(text) - len(text.split()[-1]), len(text)),
                }
                prompt = build_prompt(view, text, marks)
                obj_token = view.first_token(obj)
                if prompt is None or len(prompt.spans["end"]) != 1 or obj_token is None:
                    continue
                prompts.append(prompt)
                rows.append((r_index, obj_token))
    kept = {names[r]: sum(1 for x, _ in rows if x == r) for r in range(len(names))}
    if sum(kept.values()) < MIN_PER_RELATION:
        raise DatasetUnavailable(f"only {sum(kept.values())} factual prompts fit this tokenizer")
    tokens = pad_batch([p.ids for p in prompts], view.pad_id)
    subject_mask = torch.zeros_like(tokens, dtype=torch.bool)
    relation_mask = torch.zeros_like(tokens, dtype=torch.bool)
    for row, p in enumerate(prompts):
        subject_mask[row, p.spans["subject"]] = True
        relation_mask[row, p.spans["relation"]] = True
    relation_words = {
        name: sorted({t for t in (view.single_token(w) for w in relations[name].relation_words) if t is not None})
        for name in names
    }
    cols = torch.tensor(rows, dtype=torch.long)
    return PromptSet(
        "factual",
        tokens,
        {
            "end": torch.tensor([p.spans["end"][0] for p in prompts]),
            "subject_mask": subject_mask,
            "relation_mask": relation_mask,
            "relation": cols[:, 0],
            "object_token": cols[:, 1],
        },
        {"relations": names, "relation_words": relation_words, "prompts_per_relation": kept,
         "probes": view.probes.source},
    )
