"""Indirect-object-identification prompts (Wang et al.) and their ABC corruption.

Clean: "When Mary and John went to the store, John gave a drink to" (IO = Mary, S = John), with
both name orders: ABBA (IO first) and BABA (S first), half of each, as Wang et al. mix them.
Corrupted ("ABC"): the second subject is replaced by a third name, so no name is repeated and
nothing marks which name to avoid; patching from it removes the duplicate/S-inhibition signal.
Templates, names, places and objects come from the model's probes (English by default).
"""

from __future__ import annotations

import random

import torch

from headdb.detectors.datasets import DatasetUnavailable, PromptSet
from headdb.detectors.datasets.tokens import TokenizerView, build_prompt, pad_batch


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


def _io_first(template: str) -> bool:
    return template.index("{IO}") < template.index("{S}")


def ioi_prompts(view: TokenizerView, n_prompts: int, seed: int) -> PromptSet:
    probes = view.probes
    names = [n for n in probes.names if view.single_token(n) is not None]
    if len(names) < 3:
        raise DatasetUnavailable(f"only {len(names)} names are single tokens; IOI needs 3 or more")
    rng = random.Random(seed)
    clean, corrupt, rows = [], [], []
    attempts = 0
    while len(rows) < n_prompts and attempts < n_prompts * 20:
        attempts += 1
        io, s, c = rng.sample(names, 3)
        # Alternate the name orders so both are equally represented.
        orders = [t for t in probes.ioi_templates if _io_first(t) == (len(rows) % 2 == 0)] or list(probes.ioi_templates)
        template, place, obj = rng.choice(orders), rng.choice(probes.places), rng.choice(probes.objects)
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
                     view.single_token(io), view.single_token(s), int(_io_first(template))))
    if len(rows) < max(4, n_prompts // 4):
        raise DatasetUnavailable(f"could build only {len(rows)} IOI prompts for this tokenizer")
    cols = torch.tensor(rows, dtype=torch.long)
    index = {
        "io": cols[:, 0], "s1": cols[:, 1], "s2": cols[:, 2], "end": cols[:, 3],
        "io_token": cols[:, 4], "s_token": cols[:, 5], "io_first": cols[:, 6],
        "corrupted_tokens": pad_batch(corrupt, view.pad_id),
    }
    return PromptSet("ioi", pad_batch(clean, view.pad_id), index,
                     {"seed": seed, "n_names": len(names), "probes": probes.source})
