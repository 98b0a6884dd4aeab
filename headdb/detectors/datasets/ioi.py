"""Indirect-object-identification prompts (Wang et al.) and their ABC corruption.

Clean: "When Mary and John went to the store, John gave a drink to" (IO = Mary, S = John).
Corrupted ("ABC"): the second subject is replaced by a third name, so no name is repeated and
nothing marks which name to avoid; patching from it removes the duplicate/S-inhibition signal.
"""

from __future__ import annotations

import random

import torch

from headdb.detectors.datasets import DatasetUnavailable, PromptSet
from headdb.detectors.datasets.tokens import TokenizerView, build_prompt, pad_batch
from headdb.detectors.datasets.words import IOI_TEMPLATES, NAMES, OBJECTS, PLACES


def _fill(template: str, io: str, s1: str, s2: str, place: str, obj: str) -> tuple[str, dict[str, tuple[int, int]]]:
    text, marks, rest = "", {}, template
    values = {"IO": io, "PLACE": place, "OBJECT": obj}
    s_count = 0
    while "{" in rest:
        before, _, after = rest.partition("{")
        key, _, rest = after.partition("}")
        text += before
        if key == "S":
            s_count += 1
            word, mark = (s1, "s1") if s_count == 1 else (s2, "s2")
        else:
            word, mark = values[key], key.lower()
        marks[mark] = (len(text), len(text) + len(word))
        text += word
    text += rest
    marks["end"] = (len(text) - len(text.split()[-1]), len(text))
    return text, marks


def ioi_prompts(view: TokenizerView, n_prompts: int, seed: int) -> PromptSet:
    names = [n for n in NAMES if view.single_token(n) is not None]
    if len(names) < 3:
        raise DatasetUnavailable(f"only {len(names)} names are single tokens; IOI needs 3 or more")
    rng = random.Random(seed)
    clean, corrupt, rows = [], [], []
    attempts = 0
    while len(rows) < n_prompts and attempts < n_prompts * 20:
        attempts += 1
        io, s, c = rng.sample(names, 3)
        template, place, obj = rng.choice(IOI_TEMPLATES), rng.choice(PLACES), rng.choice(OBJECTS)
        text, marks = _fill(template, io, s, s, place, obj)
        ctext, cmarks = _fill(template, io, s, c, place, obj)
        p, q = build_prompt(view, text, marks), build_prompt(view, ctext, cmarks)
        if p is None or q is None or len(p.ids) != len(q.ids):
            continue
        if any(len(p.spans[k]) != 1 for k in ("io", "s1", "s2", "end")) or p.spans != q.spans:
            continue
        clean.append(p.ids)
        corrupt.append(q.ids)
        rows.append((p.spans["io"][0], p.spans["s1"][0], p.spans["s2"][0], p.spans["end"][0],
                     view.single_token(io), view.single_token(s)))
    if len(rows) < max(4, n_prompts // 4):
        raise DatasetUnavailable(f"could build only {len(rows)} IOI prompts for this tokenizer")
    cols = torch.tensor(rows, dtype=torch.long)
    index = {
        "io": cols[:, 0], "s1": cols[:, 1], "s2": cols[:, 2], "end": cols[:, 3],
        "io_token": cols[:, 4], "s_token": cols[:, 5],
        "corrupted_tokens": pad_batch(corrupt, view.pad_id),
    }
    return PromptSet("ioi", pad_batch(clean, view.pad_id), index,
                     {"seed": seed, "n_names": len(names)})
