"""The words and templates the detector datasets are built from: English by default, or the
model's own probe file.

A model trained on another language (a synthetic one, as headdb's zoo models are, or a
non-English one) can carry ``headdb_probes.json`` in its directory: its names, IOI templates,
ordinal sets, facts and the words random-token probes draw from. The file describes the model's
language only; it never says which heads do what.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from headdb.detectors.datasets import words

PROBE_FILE = "headdb_probes.json"


@dataclass(frozen=True)
class RelationProbe:
    """One relation of the factual probes: templates with ``{S}`` for the subject, the span of
    each prompt that states the relation, words that express it, and (subject, object) facts."""

    templates: tuple[str, ...]
    relation_span: str
    relation_words: tuple[str, ...]
    facts: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Probes:
    source: str
    names: tuple[str, ...]
    ioi_templates: tuple[str, ...]  # {IO}, {S} (twice: S1 then S2), {PLACE}, {OBJECT}
    places: tuple[str, ...]
    objects: tuple[str, ...]
    ordinal_sets: dict[str, tuple[str, ...]]
    relations: dict[str, RelationProbe]
    random_words: tuple[str, ...] | None = None  # None: any ordinary token of the vocabulary
    # Greater-than prompts for word-level vocabularies: a template with {C} (century) and {YY}
    # (two-digit year) as separate words, and the centuries to use; None: English text, which
    # needs a tokenizer that splits 1732 into 17 and 32.
    greater_than_template: str | None = None
    centuries: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _swap_io_s1(template: str) -> str:
    """ABBA -> BABA: the first {IO} and the first {S} change places (S2 stays)."""
    i, s = template.index("{IO}"), template.index("{S}")
    first, second = ("{IO}", "{S}") if i < s else ("{S}", "{IO}")
    a, b = min(i, s), max(i, s)
    return template[:a] + second + template[a + len(first) : b] + first + template[b + len(second) :]


def english() -> Probes:
    """headdb's default English probes (see ``words.py``), with both IOI name orders."""
    relations = {}
    for name, (template, relation_words) in words.RELATIONS.items():
        column = {"capital": 1, "language": 2, "continent": 3, "currency": 4}[name]
        relations[name] = RelationProbe(
            templates=(template, *words.EXTRA_RELATION_TEMPLATES[name]),
            relation_span=words.RELATION_SPANS[name],
            relation_words=relation_words,
            facts=tuple((row[0], row[column]) for row in words.COUNTRIES),
        )
    return Probes(
        source="headdb default (English)",
        names=words.NAMES,
        ioi_templates=(*words.IOI_TEMPLATES, *(_swap_io_s1(t) for t in words.IOI_TEMPLATES)),
        places=words.PLACES,
        objects=words.OBJECTS,
        ordinal_sets=dict(words.ORDINAL_SETS),
        relations=relations,
    )


class ProbeFileError(ValueError):
    """A model's probe file is malformed; the message names the file and the field."""


def _strings(data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ProbeFileError(f"{where}: {key!r} must be a list of non-empty strings")
    return tuple(value)


def from_file(path: Path) -> Probes:
    """Read a probe file; fields it leaves out fall back to the English defaults."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProbeFileError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ProbeFileError(f"{path}: expected a JSON object")
    base = english()
    where = str(path)
    relations = base.relations
    if "relations" in data:
        if not isinstance(data["relations"], dict):
            raise ProbeFileError(f"{where}: 'relations' must be an object")
        relations = {}
        for name, spec in data["relations"].items():
            at = f"{where}: relations.{name}"
            if not isinstance(spec, dict) or not isinstance(spec.get("facts"), list):
                raise ProbeFileError(f"{at}: needs templates, relation_span, relation_words and facts")
            facts = spec["facts"]
            if not all(isinstance(f, list) and len(f) == 2 and all(isinstance(x, str) for x in f) for f in facts):
                raise ProbeFileError(f"{at}: facts must be [subject, object] pairs of strings")
            span = spec.get("relation_span")
            if not isinstance(span, str) or not span:
                raise ProbeFileError(f"{at}: relation_span must be a non-empty string")
            relations[name] = RelationProbe(
                templates=_strings(spec, "templates", at),
                relation_span=span,
                relation_words=_strings(spec, "relation_words", at),
                facts=tuple((s, o) for s, o in facts),
            )
    ordinal_sets = base.ordinal_sets
    if "ordinal_sets" in data:
        if not isinstance(data["ordinal_sets"], dict):
            raise ProbeFileError(f"{where}: 'ordinal_sets' must be an object")
        ordinal_sets = {k: _strings(data["ordinal_sets"], k, f"{where}: ordinal_sets") for k in data["ordinal_sets"]}
    return Probes(
        source=f"probe file {path.name}",
        names=_strings(data, "names", where) if "names" in data else base.names,
        ioi_templates=_strings(data, "ioi_templates", where) if "ioi_templates" in data else base.ioi_templates,
        places=_strings(data, "places", where) if "places" in data else base.places,
        objects=_strings(data, "objects", where) if "objects" in data else base.objects,
        ordinal_sets=ordinal_sets,
        relations=relations,
        random_words=_strings(data, "random_words", where) if "random_words" in data else None,
        **_greater_than(data, where),
    )


def _greater_than(data: dict[str, Any], where: str) -> dict[str, Any]:
    spec = data.get("greater_than")
    if spec is None:
        return {}
    if not isinstance(spec, dict) or not isinstance(spec.get("template"), str) \
            or "{C}" not in spec["template"] or "{YY}" not in spec["template"]:
        raise ProbeFileError(f"{where}: greater_than needs a template with {{C}} and {{YY}}, and centuries")
    return {"greater_than_template": spec["template"], "centuries": _strings(spec, "centuries", f"{where}: greater_than")}


def for_model(directory: str | Path | None) -> Probes:
    """The probes of a model: its directory's probe file if it has one, else English."""
    if directory is not None:
        path = Path(directory) / PROBE_FILE
        if path.is_file():
            return from_file(path)
    return english()
