"""Ground truth for a trained zoo model: which heads play which role, from ablation on each
task's own metric, with every number recorded.

For each ``RoleTest`` (see ``headdb.zoo.tasks``) and each head, the head's output is replaced by
its output on the corrupted twin, and the effect is the fraction of the clean-minus-corrupted
metric gap that this removes. headdb's conventions for turning effects into roles:

- positive: effect >= ``POSITIVE`` (0.05) on some test of the type, or one of a redundant pair:
  two heads whose joint effect reaches 0.05 and exceeds the sum of their single effects by at
  least 0.025 (each covers for the other, so neither shows alone);
- backup: with every positive found so far patched as well, a head whose patching removes a
  further 0.05 of the gap is a positive too. Like the knock-out with which Wang et al. (2022)
  find backup name movers (they knock out the name movers and watch other heads' direct effect
  grow), and applied to every type: a head that a stronger one makes redundant shows only once the
  stronger one is gone. One round, on the tests that patch heads' outputs (not on the
  indirect path, which is a difference of two patchings);
- negative: effect < ``NEGATIVE`` (0.02) on every test of the type, alone and with the positives
  patched (a head that works the other way, such as a name mover for the negative-name-mover
  test, is a negative);
- ambiguous: anything between; reported, and left out of precision and recall;
- source position: where a type's mechanism names the position a head reads (an induction head
  reads the token after the earlier occurrence of the current one), each positive must also
  depend on that edge: with the edge from every query to that position blocked in all of the
  type's positives (attention knockout, Geva et al. 2023), unblocking it in this head alone must
  restore at least 0.05 of the gap. A positive that does not is moved to ambiguous: it plays the
  role causally but reads from elsewhere. The same figure one position further on is recorded
  beside it.

A task the model does not solve (gap below ``MIN_GAP`` of the clean metric's scale) gives no
roles, and the file says so.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from headdb.zoo import ablation
from headdb.zoo.tasks import CONTRASTS, ROLE_TESTS, Contrast, RoleTest

POSITIVE, NEGATIVE = 0.05, 0.02
MIN_GAP = 1.0  # in metric units (logit difference or log-probability)
N_PROMPTS = 128

CONVENTIONS = {
    "positive_effect": POSITIVE,
    "negative_effect": NEGATIVE,
    "min_gap": MIN_GAP,
    "prompts_per_contrast": N_PROMPTS,
    "note": "headdb conventions: a head has a role when replacing its output by its output on the "
    "corrupted prompt removes at least 5% of the clean-corrupted metric gap (or when it is one of a "
    "redundant pair that does together, or when, with those heads patched too, it removes a further "
    "5%); it is a negative when no test of the type shows an effect of 2% in the role's direction, "
    "alone or with the positives patched; in between it is ambiguous and left out of precision and "
    "recall. An induction positive must also read the induction target: its own edges there must "
    "restore 5% of the gap when they are knocked out in every positive; otherwise it is ambiguous.",
}


@dataclass
class Encoded:
    clean: torch.Tensor
    corrupted: torch.Tensor
    targets: list[tuple[int, int, int, int | None]]
    positions: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> bool [b, t]


def encode(contrasts: list[Contrast], index: dict[str, int]) -> Encoded:
    length = max(len(c.clean) for c in contrasts)
    clean = torch.zeros(len(contrasts), length, dtype=torch.long)
    corrupted = torch.zeros_like(clean)
    targets: list[tuple[int, int, int, int | None]] = []
    names = {n for c in contrasts for n in c.positions}
    positions = {n: torch.zeros(len(contrasts), length, dtype=torch.bool) for n in names}
    for row, c in enumerate(contrasts):
        clean[row, : len(c.clean)] = torch.tensor([index[w] for w in c.clean])
        corrupted[row, : len(c.corrupted)] = torch.tensor([index[w] for w in c.corrupted])
        for pos, correct, alt in c.targets:
            targets.append((row, pos, index[correct], index[alt] if alt is not None else None))
        for name, where in c.positions.items():
            positions[name][row, where] = True
    return Encoded(clean, corrupted, targets, positions)


@dataclass
class ContrastResult:
    clean: float
    corrupted: float
    effects: dict[tuple[str, str], torch.Tensor]  # (positions, path) -> [layers, heads] fraction of gap
    pairs: dict[tuple[str, str], dict[tuple[tuple[int, int], tuple[int, int]], float]]
    # The two passes the effects were measured against, kept for the backup round.
    clean_run: ablation.Run | None = None
    corrupt_run: ablation.Run | None = None

    @property
    def gap(self) -> float:
        return self.clean - self.corrupted


def _effect(lay: ablation.Layout, model: torch.nn.Module, enc: Encoded, clean_run: ablation.Run,
            corrupt_run: ablation.Run, heads: list[tuple[int, int]], where: torch.Tensor, path: str) -> float:
    """Mean metric after replacing ``heads`` along ``path`` at ``where`` ("direct-promote": the
    direct path, measured on the correct word's logit alone)."""
    if path in ("total", "no-attention"):
        patch: dict[int, tuple[list[int], torch.Tensor, torch.Tensor]] = {}
        for layer, head in heads:
            hs, _, _ = patch.setdefault(layer, ([], where, corrupt_run.z[layer]))
            hs.append(head)
        frozen = None
        if path == "no-attention":  # later heads keep their clean output everywhere
            first = min(layer for layer, _ in heads) + 1
            frozen = {layer: clean_run.z[layer] for layer in range(first, len(lay.out_proj))}
        logits = ablation.run(model, lay, enc.clean, patch, frozen).logits
        return float(ablation.metric(logits, enc.targets).mean())
    resid = clean_run.final_resid.clone()
    for layer, head in heads:
        delta = (ablation.head_outputs(lay, corrupt_run, layer) - ablation.head_outputs(lay, clean_run, layer))[:, :, head]
        resid += delta * where[..., None]
    promote = path == "direct-promote"
    return float(ablation.metric(ablation.logits_from_resid(lay, resid), enc.targets, promote).mean())


def contrast_effects(model: torch.nn.Module, enc: Encoded, tests: list[RoleTest]) -> ContrastResult:
    """Single-head effects for every (positions, path) the tests ask for, plus pair effects for
    heads that are individually between the negative and positive bounds."""
    lay = ablation.layout(model)
    clean_run = ablation.run(model, lay, enc.clean)
    corrupt_run = ablation.run(model, lay, enc.corrupted)
    m_clean = float(ablation.metric(clean_run.logits, enc.targets).mean())
    m_corrupt = float(ablation.metric(corrupt_run.logits, enc.targets).mean())
    gap = m_clean - m_corrupt
    n_layers, n_heads = len(lay.out_proj), lay.n_heads
    all_heads = [(l, h) for l in range(n_layers) for h in range(n_heads)]
    effects: dict[tuple[str, str], torch.Tensor] = {}
    pairs: dict[tuple[str, str], dict[tuple[tuple[int, int], tuple[int, int]], float]] = {}
    needed = {(t.positions, "total" if t.path == "indirect" else t.path) for t in tests}
    needed |= {(t.positions, "direct") for t in tests if t.path == "indirect"}
    for positions, path in sorted(needed):
        where = enc.positions[positions]
        base = m_clean
        if path == "direct-promote":  # the correct word's own logit, measured against the task's gap
            base = float(ablation.metric(clean_run.logits, enc.targets, promote=True).mean())
        grid = torch.zeros(n_layers, n_heads)
        for layer, head in all_heads:
            grid[layer, head] = (base - _effect(lay, model, enc, clean_run, corrupt_run, [(layer, head)], where, path)) / gap
        effects[(positions, path)] = grid
        middling = [(l, h) for l, h in all_heads if NEGATIVE <= abs(float(grid[l, h])) < POSITIVE]
        pairs[(positions, path)] = {
            (a, b): (base - _effect(lay, model, enc, clean_run, corrupt_run, [a, b], where, path)) / gap
            for a, b in itertools.combinations(middling, 2)
        }
    for t in tests:
        if t.path == "indirect":
            effects[(t.positions, "indirect")] = effects[(t.positions, "total")] - effects[(t.positions, "direct")]
    return ContrastResult(m_clean, m_corrupt, effects, pairs, clean_run, corrupt_run)


def backup_effects(model: torch.nn.Module, enc: Encoded, result: ContrastResult, test: RoleTest,
                   positives: list[tuple[int, int]]) -> torch.Tensor:
    """[layers, heads]: the further fraction of the gap each head removes when ``positives`` are
    patched along the test's path as well (0 for the positives themselves). ``result`` is the
    contrast's ``contrast_effects``, whose passes are reused."""
    assert result.clean_run is not None and result.corrupt_run is not None
    lay = ablation.layout(model)
    clean_run, corrupt_run, gap = result.clean_run, result.corrupt_run, result.gap
    where = enc.positions[test.positions]
    base = _effect(lay, model, enc, clean_run, corrupt_run, positives, where, test.path)
    grid = torch.zeros(len(lay.out_proj), lay.n_heads)
    for layer in range(len(lay.out_proj)):
        for head in range(lay.n_heads):
            if (layer, head) not in positives:
                grid[layer, head] = (base - _effect(lay, model, enc, clean_run, corrupt_run,
                                                    [*positives, (layer, head)], where, test.path)) / gap
    return grid


# Types whose mechanism names a source position: (contrast, query positions, source positions),
# the two position lists paired query by query.
SOURCE_TESTS = {"induction": ("copy", "query", "key_side")}


def _edges(enc: Encoded, queries: str, sources: str, shift: int) -> torch.Tensor:
    """bool [b, q, k]: each query's edge to its paired source position plus ``shift``."""
    b, t = enc.clean.shape
    blocked = torch.zeros(b, t, t, dtype=torch.bool)
    for row in range(b):
        qs = enc.positions[queries][row].nonzero().flatten()
        ks = enc.positions[sources][row].nonzero().flatten() + shift
        keep = ks < t
        blocked[row, qs[keep], ks[keep]] = True
    return blocked


def source_effects(model: torch.nn.Module, enc: Encoded, result: ContrastResult, heads: list[tuple[int, int]],
                   queries: str, sources: str, shift: int = 0) -> dict[tuple[int, int], float]:
    """For each of ``heads``: the fraction of the gap its own query -> source (+ ``shift``) edges
    restore, when those edges are blocked in all ``heads`` and then unblocked in it alone."""
    blocked = _edges(enc, queries, sources, shift)

    def knocked(which: list[tuple[int, int]]) -> float:
        logits = ablation.knockout_logits(model, enc.clean, {h: blocked for h in which})
        return float(ablation.metric(logits, enc.targets).mean())

    everyone = knocked(heads)
    return {h: (knocked([g for g in heads if g != h]) - everyone) / result.gap for h in heads}


def _coord(head: tuple[int, int]) -> str:
    return f"{head[0]}.{head[1]}"


BackupEffects = Callable[[RoleTest, list[tuple[int, int]]], torch.Tensor]


def assign_roles(results: dict[str, ContrastResult], tests: list[RoleTest], n_layers: int, n_heads: int,
                 backup: BackupEffects | None = None) -> dict[str, Any]:
    """Turn effects into positives / negatives / ambiguous per head type (see module docstring).
    ``backup(test, positives)`` gives each head's effect with ``positives`` patched as well
    (signed as the test's metric, zero for the positives themselves); None skips the backup round."""
    roles: dict[str, Any] = {}
    for head_type in sorted({t.head_type for t in tests}):
        mine = [t for t in tests if t.head_type == head_type and results[t.contrast].gap >= MIN_GAP]
        if not mine:
            continue
        signed = torch.stack([t.sign * results[t.contrast].effects[(t.positions, t.path)] for t in mine])
        best = signed.max(0).values
        positives = {(l, h) for l in range(n_layers) for h in range(n_heads) if best[l, h] >= POSITIVE}
        redundant = []
        for t in mine:
            if t.path == "indirect":
                continue
            single = t.sign * results[t.contrast].effects[(t.positions, t.path)]
            for (a, b), value in results[t.contrast].pairs.get((t.positions, t.path), {}).items():
                joint = t.sign * value
                if a in positives or b in positives or min(single[a], single[b]) <= 0:
                    continue
                # Redundancy shows as super-additivity: together they matter far more than the
                # sum of what each does alone (one covers for the other).
                if joint >= POSITIVE and joint - float(single[a] + single[b]) >= POSITIVE / 2:
                    redundant.append({"heads": [_coord(a), _coord(b)], "effect": round(joint, 4),
                                      "sum_of_singles": round(float(single[a] + single[b]), 4)})
        for pair in redundant:
            positives |= {tuple(int(x) for x in c.split(".")) for c in pair["heads"]}  # type: ignore[misc]
        with_positives: dict[int, torch.Tensor] = {}
        if backup is not None and positives:
            found = sorted(positives)
            for i, t in enumerate(mine):
                if t.path != "indirect":
                    with_positives[i] = t.sign * backup(t, found)
        backups = [
            {"head": _coord((l, h)), "contrast": mine[i].contrast, "effect_with_positives_patched": round(float(grid[l, h]), 4)}
            for i, grid in with_positives.items() for l in range(n_layers) for h in range(n_heads)
            if (l, h) not in positives and grid[l, h] >= POSITIVE
        ]
        positives |= {tuple(int(x) for x in b["head"].split(".")) for b in backups}  # type: ignore[misc]
        worst = torch.stack([best, *with_positives.values()]).max(0).values
        negatives = {(l, h) for l in range(n_layers) for h in range(n_heads)
                     if worst[l, h] < NEGATIVE and (l, h) not in positives}
        ambiguous = {(l, h) for l in range(n_layers) for h in range(n_heads)} - positives - negatives
        roles[head_type] = {
            "positives": sorted(map(_coord, positives)),
            "negatives": sorted(map(_coord, negatives)),
            "ambiguous": sorted(map(_coord, ambiguous)),
            "redundant_pairs": redundant,
            "backups": backups,
            "tests": [
                {
                    "contrast": t.contrast, "positions": t.positions, "path": t.path, "sign": t.sign,
                    "effects": {f"{l}.{h}": round(float(results[t.contrast].effects[(t.positions, t.path)][l, h]), 4)
                                for l in range(n_layers) for h in range(n_heads)},
                    **({"effects_with_positives_patched": {
                        f"{l}.{h}": round(float(t.sign * with_positives[i][l, h]), 4)
                        for l in range(n_layers) for h in range(n_heads)}} if i in with_positives else {}),
                }
                for i, t in enumerate(mine)
            ],
        }
    return roles


def ground_truth(model: torch.nn.Module, contrasts: list[str], index: dict[str, int], seed: int = 1234) -> dict[str, Any]:
    """Compute the ground-truth record of a trained model for its tasks' contrasts."""
    tests = [t for t in ROLE_TESTS if t.contrast in contrasts]
    results: dict[str, ContrastResult] = {}
    encoded: dict[str, Encoded] = {}
    for name in contrasts:
        rng = random.Random(f"{seed}:{name}")
        encoded[name] = encode([CONTRASTS[name](rng) for _ in range(N_PROMPTS)], index)
        results[name] = contrast_effects(model, encoded[name], [t for t in tests if t.contrast == name])
    lay = ablation.layout(model)

    def backup(test: RoleTest, positives: list[tuple[int, int]]) -> torch.Tensor:
        return backup_effects(model, encoded[test.contrast], results[test.contrast], test, positives)

    roles = assign_roles(results, tests, len(lay.out_proj), lay.n_heads, backup)
    for head_type, (contrast, queries, sources) in SOURCE_TESTS.items():
        if head_type in roles and roles[head_type]["positives"] and contrast in encoded:
            _check_sources(roles[head_type], model, encoded[contrast], results[contrast], contrast, queries, sources)
    return {
        "method": "activation patching of each head's output from the corrupted twin of each prompt "
        "(zoo tasks' own metric): single heads, pairs, and each head with the type's positives patched "
        "too; for induction, attention knockout of the edge to the induction target; see "
        "headdb/zoo/groundtruth.py",
        "conventions": CONVENTIONS,
        "contrasts": {
            name: {"clean_metric": round(r.clean, 4), "corrupted_metric": round(r.corrupted, 4),
                   "gap": round(r.gap, 4), "solved": r.gap >= MIN_GAP}
            for name, r in results.items()
        },
        "roles": roles,
    }


def _check_sources(role: dict[str, Any], model: torch.nn.Module, enc: Encoded, result: ContrastResult,
                   contrast: str, queries: str, sources: str) -> None:
    """Apply the source-position rule (module docstring) to one type's roles, in place."""
    heads = [tuple(int(x) for x in c.split(".")) for c in role["positives"]]
    at = source_effects(model, enc, result, heads, queries, sources)  # type: ignore[arg-type]
    past = source_effects(model, enc, result, heads, queries, sources, shift=1)  # type: ignore[arg-type]
    elsewhere = sorted(_coord(h) for h, v in at.items() if v < POSITIVE)
    role["positives"] = [c for c in role["positives"] if c not in elsewhere]
    role["ambiguous"] = sorted([*role["ambiguous"], *elsewhere])
    role["source_positions"] = {
        "contrast": contrast,
        "test": "attention knockout: the fraction of the gap a head's own query -> source edges "
        "restore, with the same edges blocked in every positive",
        "at_source": {_coord(h): round(v, 4) for h, v in at.items()},
        "one_past_source": {_coord(h): round(v, 4) for h, v in past.items()},
        "moved_to_ambiguous": elsewhere,
    }
