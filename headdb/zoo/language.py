"""The zoo's synthetic language: one word-level vocabulary that every trained zoo model shares,
its tokenizer, and the probe file that tells headdb's detectors how to prompt in it.

The vocabulary is small and made of whole words, so every probe word is one token. Filler words
(``w00`` ...) carry no meaning; chain words (``c00`` ...) follow a fixed skip-bigram rule; the rest
are names, ordinal words, subjects, relations and objects of the synthetic tasks in
``headdb.zoo.tasks``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from headdb.detectors.datasets.words import NAMES as ENGLISH_NAMES
from headdb.detectors.datasets.words import ORDINAL_SETS as ENGLISH_ORDINALS

BOS = "<s>"
FILLERS: tuple[str, ...] = tuple(f"w{i:02d}" for i in range(64))
CHAIN: tuple[str, ...] = tuple(f"c{i:02d}" for i in range(24))
ORDINAL_SETS: dict[str, tuple[str, ...]] = {
    name: ENGLISH_ORDINALS[name] for name in ("numbers", "days", "months", "letters")
}
NAMES: tuple[str, ...] = ENGLISH_NAMES[:16]
SUBJECTS: tuple[str, ...] = tuple(f"e{i:02d}" for i in range(16))
RELATIONS: tuple[str, ...] = ("color", "size", "home", "food")
OBJECTS: tuple[str, ...] = tuple(f"o{i:02d}" for i in range(12))
PLACES: tuple[str, ...] = ("store", "park", "school", "garden")
THINGS: tuple[str, ...] = ("book", "drink", "key", "ball")
FUNCTION_WORDS: tuple[str, ...] = ("and", "went", "to", "the", "then", "gave", "a", "next", "is", ",", "from")
YEARS: tuple[str, ...] = tuple(f"{y:02d}" for y in range(100))  # two-digit years, "00" to "99"
CENTURIES: tuple[str, ...] = ("11", "12", "13", "14", "15", "16", "17", "18")

# The seeds below fix the language's rules; changing one changes every zoo model's hash.
_CHAIN_SEED, _FACT_SEED = 7, 11


def vocabulary() -> list[str]:
    words = [BOS, *FUNCTION_WORDS, *FILLERS, *CHAIN]
    for members in ORDINAL_SETS.values():
        words += [w for w in members if w not in words]
    words += [*NAMES, *SUBJECTS, *RELATIONS, *OBJECTS, *PLACES, *THINGS]
    words += [w for w in YEARS if w not in words]
    assert len(words) == len(set(words)), "zoo vocabulary has a repeated word"
    return words


def filler_rule() -> dict[str, str]:
    """The chain word that follows filler ``a`` two positions later in a triple ``a b rule[a]``."""
    rng = random.Random(_CHAIN_SEED)
    return {w: rng.choice(CHAIN) for w in FILLERS}


def fact_table() -> dict[tuple[str, str], str]:
    """(subject, relation) -> object: the synthetic facts the lookup task is trained on."""
    rng = random.Random(_FACT_SEED)
    return {(s, r): rng.choice(OBJECTS) for s in SUBJECTS for r in RELATIONS}


def successor(word: str) -> str | None:
    for members in ORDINAL_SETS.values():
        if word in members[:-1]:
            return members[members.index(word) + 1]
    return None


def write_tokenizer(directory: Path) -> None:
    """A word-level Hugging Face tokenizer over ``vocabulary()``, BOS doubling as EOS and padding."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(vocabulary())}
    core = Tokenizer(WordLevel(vocab=vocab, unk_token=BOS))
    core.pre_tokenizer = WhitespaceSplit()
    PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=BOS, pad_token=BOS, unk_token=BOS
    ).save_pretrained(directory)


# -- the probe file ------------------------------------------------------------------------------

IOI_TEMPLATES: tuple[str, ...] = (
    "{IO} and {S} went to the {PLACE} , then {S} gave a {OBJECT} to",
    "{S} and {IO} went to the {PLACE} , then {S} gave a {OBJECT} to",
    "then {IO} and {S} went to the {PLACE} , {S} gave the {OBJECT} to",
    "then {S} and {IO} went to the {PLACE} , {S} gave the {OBJECT} to",
)
FACT_TEMPLATES: tuple[str, ...] = ("{S} {R} is", "{R} {S} is", "w03 {S} w17 {R} is", "{R} w40 {S} is")
GREATER_THAN_TEMPLATE = "from {C} {YY} to {C}"


def probes() -> dict[str, object]:
    """How to prompt a zoo model: the probe file ``headdb.detectors.datasets.probes`` reads.

    It describes the language the model was trained on (its words, templates and facts), never
    which heads do what: the ground truth is kept in a separate file the detectors never open."""
    facts = fact_table()
    return {
        "description": "headdb zoo language (synthetic, word-level)",
        "random_words": list(FILLERS),
        "names": list(NAMES),
        "ioi_templates": list(IOI_TEMPLATES),
        "places": list(PLACES),
        "objects": list(THINGS),
        "ordinal_sets": {k: list(v) for k, v in ORDINAL_SETS.items()},
        "greater_than": {"template": GREATER_THAN_TEMPLATE, "centuries": list(CENTURIES)},
        "relations": {
            r: {
                "templates": [t.replace("{R}", r) for t in FACT_TEMPLATES],
                "relation_span": r,
                "relation_words": [r],
                "facts": [[s, facts[(s, r)]] for s in SUBJECTS],
            }
            for r in RELATIONS
        },
    }


def write_probes(directory: Path) -> None:
    (directory / "headdb_probes.json").write_text(json.dumps(probes(), indent=1))
