"""Ordinal token sets for successor heads (Gould et al.): numbers, number words, ordinals, days,
months and letters by default (the model's probes may name others), keeping only members that
are single tokens of the model's vocabulary; and the name tokens copy scores read."""

from __future__ import annotations

import torch

from headdb.detectors.datasets import DatasetUnavailable, PromptSet
from headdb.detectors.datasets.tokens import TokenizerView


def ordinal_tokens(view: TokenizerView) -> PromptSet:
    ids, set_ids, orders, kept = [], [], [], {}
    for set_index, (name, members) in enumerate(view.probes.ordinal_sets.items()):
        present = [(order, view.single_token(word)) for order, word in enumerate(members)]
        present = [(order, tid) for order, tid in present if tid is not None]
        if len(present) < 3:
            continue
        kept[name] = len(present)
        for order, tid in present:
            ids.append(tid)
            set_ids.append(set_index)
            orders.append(order)
    if not ids:
        raise DatasetUnavailable("no ordinal set has three or more single-token members")
    tokens = torch.tensor(ids, dtype=torch.long)[:, None]
    set_tensor, order_tensor = torch.tensor(set_ids), torch.tensor(orders)
    # A pair (i -> j) counts only where j is the very next member of the same set.
    src, dst = [], []
    for i in range(len(ids)):
        for j in range(len(ids)):
            if set_ids[i] == set_ids[j] and orders[j] == orders[i] + 1:
                src.append(i)
                dst.append(j)
    if not src:
        raise DatasetUnavailable("no consecutive single-token ordinal pairs")
    return PromptSet(
        "ordinal_tokens",
        tokens,
        {"set": set_tensor, "order": order_tensor},
        {"sets": kept, "pairs": [src, dst], "probes": view.probes.source},
    )


def name_tokens(view: TokenizerView) -> PromptSet:
    ids = [tid for tid in (view.single_token(n) for n in view.probes.names) if tid is not None]
    if len(ids) < 3:
        raise DatasetUnavailable("fewer than three names are single tokens")
    return PromptSet("name_tokens", torch.tensor(ids, dtype=torch.long)[:, None], {}, {})
