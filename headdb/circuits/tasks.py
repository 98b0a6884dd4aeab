"""Circuit tasks: clean and corrupted prompts built from the model's tokenizer, and the metric.

- ``ioi``: indirect-object identification (both name orders), corrupted by the ABC swap; metric
  logit(IO) - logit(S).
- ``greater-than``: "The war lasted from the year 1732 to the year 17" (Hanna et al.); corrupted
  start year 1701; metric: the probability of the two-digit years above the start minus those at
  or below it. Needs a tokenizer that splits a year into the century and two digits, or a probe
  file's word-level template ("from 17 32 to 17").
- ``factual:RELATION``: Knowledge Circuits' subject-relation-object prompts for one relation,
  corrupted by another subject of the same relation whose object differs (same token length);
  metric log p(object), the target's log-probability: the twin shares the relation, so a logit
  difference against its object would cancel whatever the relation contributes to both.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

import torch

from headdb.detectors.datasets import DatasetUnavailable
from headdb.detectors.datasets.ioi import ioi_prompts
from headdb.detectors.datasets.tokens import TokenizerView, build_prompt, pad_batch

METRICS = {"ioi": "logit difference", "greater-than": "probability difference", "factual": "log probability"}


@dataclass(frozen=True)
class CircuitTask:
    """Clean and corrupted prompts of equal length per row, the answer position, and per row the
    ids whose logits (or probabilities) count for (``good``) and against (``bad``) the answer
    (the log-probability metric reads only ``good``)."""

    name: str
    metric_name: str
    clean: torch.Tensor  # [n, t]
    corrupted: torch.Tensor  # [n, t]
    end: torch.Tensor  # [n]
    good: torch.Tensor  # [n, g] ids, -1 padding
    bad: torch.Tensor  # [n, b] ids, -1 padding
    meta: dict[str, object] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.clean.shape[0])

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.name.encode())
        for t in (self.clean, self.corrupted, self.end, self.good, self.bad):
            digest.update(t.cpu().numpy().tobytes())
        return digest.hexdigest()

    def metric(self, logits: torch.Tensor, rows: slice) -> torch.Tensor:
        """The task metric of each row of ``logits`` [b, t, vocab] (rows ``rows`` of the task)."""
        end = self.end[rows].to(logits.device)
        return self.metric_at_end(logits[torch.arange(logits.shape[0], device=logits.device), end], rows)

    def metric_at_end(self, last: torch.Tensor, rows: slice) -> torch.Tensor:
        """The task metric from the logits at each row's answer position, ``last`` [b, vocab]."""
        good, bad = self.good[rows].to(last.device), self.bad[rows].to(last.device)
        if self.metric_name == "probability difference":
            probs = last.softmax(-1)
            return _masked_sum(probs, good) - _masked_sum(probs, bad)
        if self.metric_name == "log probability":  # of the good ids; ``bad`` is not read
            return _masked_mean(last.float().log_softmax(-1), good)
        return _masked_mean(last, good) - _masked_mean(last, bad)


def _masked_sum(values: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    picked = values.gather(1, ids.clamp_min(0))
    return (picked * (ids >= 0)).sum(1)


def _masked_mean(values: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    return _masked_sum(values, ids) / (ids >= 0).sum(1).clamp_min(1)


def ioi_task(view: TokenizerView, n_prompts: int, seed: int) -> CircuitTask:
    p = ioi_prompts(view, n_prompts, seed)
    return CircuitTask("ioi", METRICS["ioi"], p.tokens, p.index["corrupted_tokens"], p.index["end"],
                       p.index["io_token"][:, None], p.index["s_token"][:, None], {"probes": view.probes.source})


NOUNS = ("war", "expedition", "siege", "voyage", "famine", "drought", "conflict", "occupation", "reign", "dynasty")


def greater_than_task(view: TokenizerView, n_prompts: int, seed: int) -> CircuitTask:
    two_digit = [view.tokenizer.convert_tokens_to_ids(f"{y:02d}") for y in range(100)]
    if any(t is None or t == view.tokenizer.unk_token_id for t in two_digit):
        raise DatasetUnavailable("greater-than needs every two-digit number 00-99 as a token")
    probes = view.probes
    template = probes.greater_than_template
    centuries = probes.centuries or ("11", "12", "13", "14", "15", "16", "17", "18")
    rng = random.Random(seed)
    clean, corrupt, ends, goods, bads = [], [], [], [], []
    for _ in range(n_prompts * 4):
        if len(clean) == n_prompts:
            break
        noun, century, year = rng.choice(NOUNS), rng.choice(centuries), rng.randint(2, 98)
        if template is None:
            text = f"The {noun} lasted from the year {century}{year:02d} to the year {century}"
            bad_text = f"The {noun} lasted from the year {century}01 to the year {century}"
        else:  # a word-level vocabulary: century and year are separate words
            text = template.replace("{C}", century).replace("{YY}", f"{year:02d}")
            bad_text = template.replace("{C}", century).replace("{YY}", "01")
        ids, bad_ids = view.with_bos(view.encode(text).ids), view.with_bos(view.encode(bad_text).ids)
        # The year must split into the century and its two digits, the same way in both prompts.
        if len(ids) != len(bad_ids) or two_digit[year] not in ids:
            continue
        clean.append(ids)
        corrupt.append(bad_ids)
        ends.append(len(ids) - 1)
        goods.append([two_digit[y] for y in range(year + 1, 100)])
        bads.append([two_digit[y] for y in range(0, year + 1)])
    if len(clean) < max(4, n_prompts // 2):
        raise DatasetUnavailable(f"only {len(clean)} greater-than prompts tokenize as century + two digits")
    return CircuitTask("greater-than", METRICS["greater-than"], pad_batch(clean, view.pad_id), pad_batch(corrupt, view.pad_id),
                       torch.tensor(ends), pad_batch(goods, -1), pad_batch(bads, -1), {})


def factual_task(view: TokenizerView, relation: str, n_prompts: int, seed: int) -> CircuitTask:
    relations = view.probes.relations
    if relation not in relations:
        raise DatasetUnavailable(f"unknown relation {relation!r}; the model's probes have {', '.join(sorted(relations))}")
    spec = relations[relation]
    by_template: dict[str, list[tuple[list[int], int, int, list[int], list[int]]]] = {}
    for template in spec.templates:
        if spec.relation_span not in template:
            continue
        for subject, obj in spec.facts:
            text = template.replace("{S}", subject)
            start, r_start = text.index(subject), text.index(spec.relation_span)
            prompt = build_prompt(view, text, {"subject": (start, start + len(subject)),
                                               "relation": (r_start, r_start + len(spec.relation_span))})
            obj_token = view.first_token(obj)
            if prompt is not None and obj_token is not None:
                by_template.setdefault(template, []).append(
                    (prompt.ids, obj_token, len(prompt.ids), prompt.spans["subject"], prompt.spans["relation"]))
    rng = random.Random(seed)
    rows: list[tuple[list[int], list[int], int, int, list[int], list[int]]] = []
    for items in by_template.values():
        for ids, obj, length, subject_at, relation_at in items:
            others = [(i, o) for i, o, n, _, _ in items if n == length and o != obj]
            if others:
                other_ids, other_obj = rng.choice(others)
                rows.append((ids, other_ids, obj, other_obj, subject_at, relation_at))
    rng.shuffle(rows)
    rows = rows[:n_prompts]
    if len(rows) < 4:
        raise DatasetUnavailable(f"only {len(rows)} factual prompt pairs for {relation!r} fit this tokenizer")
    clean = pad_batch([r[0] for r in rows], view.pad_id)
    subject_mask = torch.zeros_like(clean, dtype=torch.bool)
    relation_mask = torch.zeros_like(clean, dtype=torch.bool)
    for i, r in enumerate(rows):
        subject_mask[i, r[4]] = True
        relation_mask[i, r[5]] = True
    return CircuitTask(
        f"factual:{relation}", METRICS["factual"], clean, pad_batch([r[1] for r in rows], view.pad_id),
        torch.tensor([len(r[0]) - 1 for r in rows]),
        torch.tensor([[r[2]] for r in rows]), torch.tensor([[r[3]] for r in rows]),
        {"relation": relation, "subject_mask": subject_mask, "relation_mask": relation_mask},
    )


def build_task(view: TokenizerView, task: str, n_prompts: int, seed: int) -> CircuitTask:
    """``ioi``, ``greater-than`` or ``factual:RELATION``."""
    if task == "ioi":
        return ioi_task(view, n_prompts, seed)
    if task == "greater-than":
        return greater_than_task(view, n_prompts, seed)
    if task.startswith("factual:"):
        return factual_task(view, task.split(":", 1)[1], n_prompts, seed)
    raise DatasetUnavailable(f"unknown circuit task {task!r}; choose ioi, greater-than or factual:RELATION")
