"""Factual prompts built from (subject, relation, object) triples, as in Knowledge Circuits.

"The official language of France is" -> French. Positions of the subject span and the relation
span are recorded per prompt, with the object's first token and the relation's own words.
"""

from __future__ import annotations

import torch

from headdb.detectors.datasets import DatasetUnavailable, PromptSet
from headdb.detectors.datasets.tokens import TokenizerView, build_prompt, pad_batch
from headdb.detectors.datasets.words import COUNTRIES, RELATION_SPANS, RELATIONS

_COLUMN = {"capital": 1, "language": 2, "continent": 3, "currency": 4}


def triples() -> list[tuple[str, str, str]]:
    """Every (subject, relation, object) triple the factual dataset is drawn from."""
    return [(row[0], rel, row[_COLUMN[rel]]) for row in COUNTRIES for rel in RELATIONS]


def factual_prompts(view: TokenizerView) -> PromptSet:
    prompts, rows, rel_names = [], [], list(RELATIONS)
    for subject, relation, obj in triples():
        template, _ = RELATIONS[relation]
        text = template.replace("{S}", subject)
        s_start = text.index(subject)
        rel_words = RELATION_SPANS[relation]
        r_start = text.index(rel_words)
        marks = {
            "subject": (s_start, s_start + len(subject)),
            "relation": (r_start, r_start + len(rel_words)),
            "end": (len(text) - len(text.split()[-1]), len(text)),
        }
        prompt = build_prompt(view, text, marks)
        obj_token = view.first_token(obj)
        if prompt is None or len(prompt.spans["end"]) != 1 or obj_token is None:
            continue
        prompts.append(prompt)
        rows.append((rel_names.index(relation), obj_token))
    if len(prompts) < 8:
        raise DatasetUnavailable(f"only {len(prompts)} factual prompts fit this tokenizer")
    tokens = pad_batch([p.ids for p in prompts], view.pad_id)
    subject_mask = torch.zeros_like(tokens, dtype=torch.bool)
    relation_mask = torch.zeros_like(tokens, dtype=torch.bool)
    for row, p in enumerate(prompts):
        subject_mask[row, p.spans["subject"]] = True
        relation_mask[row, p.spans["relation"]] = True
    relation_words = {
        name: sorted({t for t in (view.single_token(w) for w in RELATIONS[name][1]) if t is not None})
        for name in rel_names
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
        {"relations": rel_names, "relation_words": relation_words},
    )
