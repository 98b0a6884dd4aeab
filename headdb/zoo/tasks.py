"""The zoo's synthetic tasks: what a model is trained on, and the clean/corrupted contrasts whose
ablation gives each head its causal role.

Every task has a training generator (a word sequence and which positions are scored) and one or
more contrast sets: a clean prompt, a corrupted twin of the same length that removes exactly the
information the task needs, the target token(s) and named positions. ``ROLE_TESTS`` says which
ablation (where, along which path) establishes which head type. None of this reads or imitates a
detector: roles come from the task's own metric.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from headdb.zoo import language as lang


@dataclass(frozen=True)
class Sample:
    """A training sequence (words) and, per position, whether its next-token loss counts."""

    words: list[str]
    scored: list[bool]


@dataclass(frozen=True)
class Contrast:
    """One clean prompt and its corrupted twin (same length, same named positions).

    ``targets`` are (position, correct word, alternative word or None): the metric at a position
    is logit(correct) - logit(alternative), or log p(correct) when there is no alternative."""

    clean: list[str]
    corrupted: list[str]
    targets: list[tuple[int, str, str | None]]
    positions: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class RoleTest:
    """Heads whose ablation moves the task metric establish ``head_type``.

    The head's output at ``positions`` is replaced by its output on the corrupted twin, along
    ``path``: "total" (every later component sees the change), "direct" (only the final residual
    stream, i.e. straight into the logits), "direct-promote" (the direct path, measured on the
    correct word's logit alone rather than the metric), "no-attention" (every later attention head keeps its
    clean output, so the change reaches the logits only directly or through MLPs) or
    "indirect" (total minus direct). The effect is the
    fraction of the clean-minus-corrupted metric gap that the replacement removes, times
    ``sign`` (-1 for heads that work against the answer, such as negative name movers)."""

    head_type: str
    contrast: str
    positions: str
    path: str
    sign: int = 1


def _fillers(rng: random.Random, low: int, high: int, avoid: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    pool = [w for w in lang.FILLERS if w not in avoid]
    return rng.sample(pool, rng.randint(low, high))


# -- copy spans: previous-token and induction heads ---------------------------------------------


def copy_sample(rng: random.Random, length: int = 32) -> Sample:
    """Random filler words in which earlier spans recur at random places; the recurring words
    (after a span's first) are scored. Positions vary, so only in-context copying predicts them."""
    words = [lang.BOS] + [rng.choice(lang.FILLERS) for _ in range(rng.randint(6, 12))]
    scored = [False] * len(words)
    while len(words) < length:
        k = rng.randint(4, 10)
        if rng.random() < 0.5 and len(words) > k + 1:
            start = rng.randrange(1, len(words) - k)
            words += words[start : start + k]
            scored += [False] + [True] * (k - 1)
        else:
            fresh = [rng.choice(lang.FILLERS) for _ in range(rng.randint(2, 6))]
            words += fresh
            scored += [False] * len(fresh)
    return Sample(words[:length], scored[:length])


def copy_contrast(rng: random.Random, span: int = 6) -> Contrast:
    """A span A, filler, then A again; the corrupted twin replaces the first A by other words, so
    nothing earlier predicts the repeat."""
    a = rng.sample(lang.FILLERS, span)
    b = rng.sample([w for w in lang.FILLERS if w not in a], span)
    pre = _fillers(rng, 3, 6, set(a) | set(b))
    mid = _fillers(rng, 3, 6, set(a) | set(b))
    first = 1 + len(pre)
    second = first + span + len(mid)
    clean = [lang.BOS, *pre, *a, *mid, *a]
    corrupted = [lang.BOS, *pre, *b, *mid, *a]
    targets = [(second + i, a[i + 1], None) for i in range(span - 1)]
    return Contrast(
        clean,
        corrupted,
        targets,
        {"query": [second + i for i in range(span - 1)], "key_side": [first + i for i in range(1, span)]},
    )


def previous_contrast(rng: random.Random, span: int = 6) -> Contrast:
    """Like ``copy_contrast``, but the twin changes only every other word of the first span (a0,
    a2, ...). The first-span positions of a1, a3, ... keep their own word while the word before
    them changes: what a head writes there differs between the twins only by what it read from
    the previous position."""
    a = rng.sample(lang.FILLERS, span)
    b = rng.sample([w for w in lang.FILLERS if w not in a], span)
    pre = _fillers(rng, 3, 6, set(a) | set(b))
    mid = _fillers(rng, 3, 6, set(a) | set(b))
    first = 1 + len(pre)
    second = first + span + len(mid)
    altered = [b[i] if i % 2 == 0 else a[i] for i in range(span)]
    clean = [lang.BOS, *pre, *a, *mid, *a]
    corrupted = [lang.BOS, *pre, *altered, *mid, *a]
    targets = [(second + i, a[i + 1], None) for i in range(span - 1)]
    return Contrast(clean, corrupted, targets, {"previous_changed": [first + i for i in range(1, span, 2)]})


# -- triples: previous-token pressure -----------------------------------------------------------


def chain_sample(rng: random.Random, length: int = 32) -> Sample:
    """Triples of filler words a, b and then the chain word paired with a: predicting it at b needs
    the previous word, whatever the fillers are and wherever they stand."""
    rule = lang.filler_rule()
    words = [lang.BOS] + _fillers(rng, 0, 2)
    scored = [False] * len(words)
    while len(words) < length:
        a, b = rng.sample(lang.FILLERS, 2)
        words += [a, b, rule[a]]
        scored += [False, True, False]
    return Sample(words[:length], scored[:length])


# -- successor ----------------------------------------------------------------------------------


def _ordinal(rng: random.Random) -> tuple[tuple[str, ...], int]:
    members = rng.choice(list(lang.ORDINAL_SETS.values()))
    return members, rng.randrange(len(members) - 1)


def successor_sample(rng: random.Random) -> Sample:
    members, i = _ordinal(rng)
    words = [lang.BOS, *_fillers(rng, 0, 4), members[i], *_fillers(rng, 1, 4), "next", members[i + 1]]
    return Sample(words, [False] * (len(words) - 2) + [True, False])


def successor_contrast(rng: random.Random) -> Contrast:
    """X ... next -> successor(X); the twin has another member X' of the same set."""
    members, i = _ordinal(rng)
    j = rng.choice([k for k in range(len(members) - 1) if k != i])
    pre, mid = _fillers(rng, 0, 4), _fillers(rng, 1, 4)
    clean = [lang.BOS, *pre, members[i], *mid, "next"]
    corrupted = [lang.BOS, *pre, members[j], *mid, "next"]
    end = len(clean) - 1
    return Contrast(clean, corrupted, [(end, members[i + 1], members[j + 1])], {"end": [end]})


# -- lookup: subject, relation -> object ---------------------------------------------------------


def _fact_words(rng: random.Random, subject: str, relation: str, order: int, pre: list[str], gap: list[str]) -> list[str]:
    pair = [subject, *gap, relation] if order == 0 else [relation, *gap, subject]
    return [lang.BOS, *pre, *pair, "is"]


def lookup_sample(rng: random.Random) -> Sample:
    facts = lang.fact_table()
    s, r = rng.choice(lang.SUBJECTS), rng.choice(lang.RELATIONS)
    words = _fact_words(rng, s, r, rng.randrange(2), _fillers(rng, 0, 3), _fillers(rng, 0, 2))
    return Sample([*words, facts[(s, r)]], [False] * (len(words) - 1) + [True, False])


def lookup_contrast(rng: random.Random, corrupt: str) -> Contrast:
    """Subject and relation in either order; the twin swaps the subject (``corrupt="subject"``)
    or the relation for one whose fact has another object."""
    facts = lang.fact_table()
    while True:
        s, r = rng.choice(lang.SUBJECTS), rng.choice(lang.RELATIONS)
        if corrupt == "subject":
            options = [x for x in lang.SUBJECTS if facts[(x, r)] != facts[(s, r)]]
        else:
            options = [x for x in lang.RELATIONS if facts[(s, x)] != facts[(s, r)]]
        if options:
            break
    other = rng.choice(options)
    order, pre, gap = rng.randrange(2), _fillers(rng, 0, 3), _fillers(rng, 0, 2)
    clean = _fact_words(rng, s, r, order, pre, gap)
    s2, r2 = (other, r) if corrupt == "subject" else (s, other)
    corrupted = _fact_words(rng, s2, r2, order, pre, gap)
    end = len(clean) - 1
    return Contrast(clean, corrupted, [(end, facts[(s, r)], facts[(s2, r2)])], {"end": [end]})


# -- indirect object identification -------------------------------------------------------------


def _ioi_words(template: str, io: str, s1: str, s2: str, place: str, thing: str) -> tuple[list[str], dict[str, int]]:
    words, marks, s_seen = [lang.BOS], {}, 0
    for token in template.split():
        if token == "{S}":
            s_seen += 1
            marks["s1" if s_seen == 1 else "s2"] = len(words)
            words.append(s1 if s_seen == 1 else s2)
        elif token == "{IO}":
            marks["io"] = len(words)
            words.append(io)
        else:
            words.append(token.replace("{PLACE}", place).replace("{OBJECT}", thing))
    return words, marks


def ioi_sample(rng: random.Random) -> Sample:
    io, s = rng.sample(lang.NAMES, 2)
    words, _ = _ioi_words(rng.choice(lang.IOI_TEMPLATES), io, s, s, rng.choice(lang.PLACES), rng.choice(lang.THINGS))
    return Sample([*words, io], [False] * (len(words) - 1) + [True, False])


def ioi_contrast(rng: random.Random, corrupt: str = "s2") -> Contrast:
    """Both name orders; the corrupted twin replaces the second S by a third name (ABC), or, with
    ``corrupt="s1"``, the first: then S2 keeps its own word but is no longer a repeat."""
    io, s, c = rng.sample(lang.NAMES, 3)
    template, place, thing = rng.choice(lang.IOI_TEMPLATES), rng.choice(lang.PLACES), rng.choice(lang.THINGS)
    clean, marks = _ioi_words(template, io, s, s, place, thing)
    corrupted, _ = _ioi_words(template, io, c, s, place, thing) if corrupt == "s1" else _ioi_words(template, io, s, c, place, thing)
    end = len(clean) - 1
    return Contrast(clean, corrupted, [(end, io, s)], {"end": [end], "s2": [marks["s2"]]})


# -- greater-than: years -----------------------------------------------------------------------------


def greater_sample(rng: random.Random) -> Sample:
    """"from 17 32 to 17" followed by a later two-digit year (Hanna et al.'s task, in words)."""
    century, start = rng.choice(lang.CENTURIES), rng.randint(2, 97)
    end = rng.randint(start + 1, 99)
    words = [lang.BOS, *_fillers(rng, 0, 3), "from", century, lang.YEARS[start], "to", century, lang.YEARS[end]]
    return Sample(words, [False] * (len(words) - 2) + [True, False])


# -- registry ------------------------------------------------------------------------------------

TRAINING: dict[str, Callable[[random.Random], Sample]] = {
    "copy": copy_sample,
    "chain": chain_sample,
    "successor": successor_sample,
    "lookup": lookup_sample,
    "ioi": ioi_sample,
    "greater": greater_sample,
}

CONTRASTS: dict[str, Callable[[random.Random], Contrast]] = {
    "copy": copy_contrast,
    "copy/previous": previous_contrast,
    "successor": successor_contrast,
    "lookup/subject": lambda rng: lookup_contrast(rng, "subject"),
    "lookup/relation": lambda rng: lookup_contrast(rng, "relation"),
    "ioi": ioi_contrast,
    "ioi/s1": lambda rng: ioi_contrast(rng, "s1"),
}

# Which contrasts a task is judged on (the chain task only shapes training).
TASK_CONTRASTS: dict[str, tuple[str, ...]] = {
    "copy": ("copy", "copy/previous"),
    "chain": (),
    "successor": ("successor",),
    "lookup": ("lookup/subject", "lookup/relation"),
    "ioi": ("ioi", "ioi/s1"),
    "greater": (),
}

ROLE_TESTS: tuple[RoleTest, ...] = (
    # Induction heads carry the copied word from the repeat's positions to the output, directly or
    # through MLPs; heads that only steer later heads' attention (Q-composition) do not count.
    RoleTest("induction", "copy", "query", "no-attention"),
    # Previous-token heads move the previous word: patched only where that word alone differs.
    RoleTest("previous-token", "copy/previous", "previous_changed", "total"),
    RoleTest("successor", "successor", "end", "direct"),
    RoleTest("mover", "lookup/subject", "end", "total"),
    RoleTest("relation", "lookup/relation", "end", "total"),
    # Name movers raise the indirect object itself (heads that help only by suppressing S are
    # another mechanism); negative name movers lower the logit difference directly.
    RoleTest("name-mover", "ioi", "end", "direct-promote"),
    RoleTest("negative-name-mover", "ioi", "end", "direct", sign=-1),
    RoleTest("s-inhibition", "ioi", "end", "indirect"),
    # Duplicate-token heads tell S2 that its word came before: patched at S2 from the twin where
    # S2 keeps its word but S1 is another name.
    RoleTest("duplicate-token", "ioi/s1", "s2", "total"),
)
