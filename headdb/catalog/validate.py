"""Load and validate the whole catalog: taxonomy, model registry and every paper entry.

Nothing stops at the first problem: every file is read, every entry checked, and all problems
come back together, each naming its file, field and reason. This is what a contributor's pull
request is checked with (``headdb validate``) and what ``headdb ingest`` runs before writing.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from headdb.catalog.schema import (
    SLUG_PATTERN,
    HeadTypeEntry,
    ModelEntry,
    PaperEntry,
)

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DEFAULT_TAXONOMY = DATA_DIR / "taxonomy.yaml"
DEFAULT_MODELS = DATA_DIR / "models.yaml"

Entry = TypeVar("Entry", bound=BaseModel)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the catalog: where (file and field) and why."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.message}"


class CatalogError(ValueError):
    """The catalog has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the catalog:\n{lines}")


@dataclass(frozen=True)
class PaperRecord:
    """A validated paper entry with its file identity and head-type names resolved to slugs."""

    slug: str
    path: Path
    entry: PaperEntry
    head_type_slugs: tuple[str, ...]
    claim_type_slugs: tuple[str | None, ...]
    claim_model_names: tuple[str, ...]


@dataclass
class Catalog:
    head_types: list[HeadTypeEntry]
    models: list[ModelEntry]
    papers: list[PaperRecord]
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name).strip().casefold()


class NameIndex:
    """Case- and punctuation-insensitive lookup of names and aliases, with close-match hints."""

    def __init__(self) -> None:
        self._canonical: dict[str, str] = {}
        self._display: dict[str, str] = {}

    def add(self, name: str, canonical: str) -> str | None:
        """Register ``name`` for ``canonical``; return the canonical it already had, if another."""
        key = _normalise(name)
        previous = self._canonical.get(key)
        if previous is not None and previous != canonical:
            return previous
        self._canonical[key] = canonical
        self._display[key] = name
        return None

    def get(self, name: str) -> str | None:
        return self._canonical.get(_normalise(name))

    def closest(self, name: str, n: int = 3) -> list[str]:
        keys = difflib.get_close_matches(_normalise(name), self._display, n=n, cutoff=0.5)
        return [self._display[k] for k in keys]

    def unknown_message(self, kind: str, name: str) -> str:
        hint = self.closest(name)
        suffix = f"; closest known: {', '.join(repr(h) for h in hint)}" if hint else ""
        return f"unknown {kind} {name!r}{suffix}"


def _field_path(loc: Iterable[Any]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _pydantic_problems(file: str, error: ValidationError, prefix: tuple[Any, ...] = ()) -> list[Problem]:
    problems = []
    for item in error.errors():
        where = _field_path(prefix + tuple(item["loc"]))
        kind = item["type"]
        if kind == "missing":
            message = "missing required field"
        elif kind == "extra_forbidden":
            message = "unknown key (allowed keys are documented in CONTRIBUTING.md)"
        else:
            message = item["msg"].removeprefix("Value error, ")
            if kind not in ("value_error",) and "input" in item:
                message += f" (got {item['input']!r})"
        problems.append(Problem(file, where, message))
    return problems


def _read_yaml(path: Path, label: str, problems: list[Problem]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(Problem(label, "", "file not found"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.append(Problem(label, where, f"not valid YAML: {getattr(exc, 'problem', exc)}"))
    except UnicodeDecodeError as exc:
        problems.append(Problem(label, "", f"not UTF-8 text: {exc}"))
    return None


def _load_list(path: Path, model: type[Entry], problems: list[Problem]) -> list[Entry]:
    label = str(path)
    data = _read_yaml(path, label, problems)
    if data is None:
        return []
    if not isinstance(data, list):
        problems.append(Problem(label, "", "expected a list of entries"))
        return []
    entries = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            problems.append(Problem(label, f"[{i}]", "expected a mapping"))
            continue
        try:
            entries.append(model.model_validate(item))
        except ValidationError as exc:
            problems.extend(_pydantic_problems(label, exc, (i,)))
    return entries


def _taxonomy_index(entries: list[HeadTypeEntry], label: str, problems: list[Problem]) -> NameIndex:
    index = NameIndex()
    slugs: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.slug in slugs:
            problems.append(Problem(label, f"[{i}].slug", f"duplicate slug {entry.slug!r}"))
        slugs.add(entry.slug)
        for j, name in enumerate((entry.slug, entry.name, *entry.aliases)):
            other = index.add(name, entry.slug)
            if other is not None:
                where = f"[{i}].name" if j < 2 else f"[{i}].aliases[{j - 2}]"
                problems.append(
                    Problem(label, where, f"{name!r} already names head type {other!r}")
                )
    return index


def _model_index(entries: list[ModelEntry], label: str, problems: list[Problem]) -> NameIndex:
    index = NameIndex()
    for i, entry in enumerate(entries):
        for name in (entry.name, *entry.aliases):
            other = index.add(name, entry.name)
            if other is not None:
                problems.append(Problem(label, f"[{i}].name", f"{name!r} already names model {other!r}"))
    return index


def _check_paper(
    path: Path,
    entry: PaperEntry,
    types: NameIndex,
    models: NameIndex,
    model_by_name: dict[str, ModelEntry],
    problems: list[Problem],
) -> PaperRecord:
    label = str(path)
    head_slugs: list[str] = []
    for i, name in enumerate(entry.heads):
        slug = types.get(name)
        if slug is None:
            problems.append(Problem(label, f"heads[{i}]", types.unknown_message("head type", name)))
        elif slug in head_slugs:
            problems.append(Problem(label, f"heads[{i}]", f"head type {name!r} listed twice"))
        else:
            head_slugs.append(slug)

    claim_types: list[str | None] = []
    claim_models: list[str] = []
    seen: set[tuple[str, str, str | None, str | None]] = set()
    for i, claim in enumerate(entry.claims):
        where = f"claims[{i}]"
        type_slug = None
        if claim.type is None and claim.role is None:
            problems.append(Problem(label, where, "a claim needs a head `type`, a `role`, or both"))
        if claim.type is not None:
            type_slug = types.get(claim.type)
            if type_slug is None:
                problems.append(
                    Problem(label, f"{where}.type", types.unknown_message("head type", claim.type))
                )
        model_name = models.get(claim.model)
        if model_name is None:
            problems.append(
                Problem(
                    label,
                    f"{where}.model",
                    models.unknown_message("model", claim.model)
                    + " (add it to headdb/data/models.yaml first)",
                ),
            )
        else:
            spec = model_by_name[model_name]
            layer, head = claim.layer_head
            if layer >= spec.n_layers or head >= spec.n_heads:
                problems.append(
                    Problem(
                        label,
                        f"{where}.head",
                        f"head {claim.head} is outside {model_name} "
                        f"(layers 0-{spec.n_layers - 1}, heads 0-{spec.n_heads - 1})",
                    )
                )
        key = (model_name or claim.model, claim.head, type_slug, claim.role)
        if key in seen:
            problems.append(Problem(label, where, f"duplicate claim for head {claim.head}"))
        seen.add(key)
        claim_types.append(type_slug)
        claim_models.append(model_name or claim.model)

    return PaperRecord(
        slug=path.stem,
        path=path,
        entry=entry,
        head_type_slugs=tuple(head_slugs),
        claim_type_slugs=tuple(claim_types),
        claim_model_names=tuple(claim_models),
    )


def _normal_title(title: str) -> str:
    return re.sub(r"\W+", " ", title).strip().casefold()


def load_catalog(
    papers_dir: Path | str,
    taxonomy_path: Path | str = DEFAULT_TAXONOMY,
    models_path: Path | str = DEFAULT_MODELS,
) -> Catalog:
    """Read and check everything; the result's ``problems`` is empty iff the catalog is valid."""
    papers_dir, taxonomy_path, models_path = Path(papers_dir), Path(taxonomy_path), Path(models_path)
    problems: list[Problem] = []

    head_types = _load_list(taxonomy_path, HeadTypeEntry, problems)
    types = _taxonomy_index(head_types, str(taxonomy_path), problems)
    models = _load_list(models_path, ModelEntry, problems)
    model_index = _model_index(models, str(models_path), problems)
    model_by_name = {m.name: m for m in models}

    if not papers_dir.is_dir():
        problems.append(Problem(str(papers_dir), "", "papers directory not found"))
        return Catalog(head_types, models, [], problems)

    papers: list[PaperRecord] = []
    paths = sorted(papers_dir.glob("*.y*ml"))
    if not paths:
        problems.append(Problem(str(papers_dir), "", "no paper entries (*.yaml) found"))
    for path in paths:
        label = str(path)
        if path.suffix != ".yaml":
            problems.append(Problem(label, "", "paper entries use the .yaml extension"))
            continue
        if not re.match(SLUG_PATTERN, path.stem):
            problems.append(
                Problem(label, "", "file name must be a slug: lowercase letters, digits and hyphens")
            )
        data = _read_yaml(path, label, problems)
        if data is None:
            if path.exists() and not any(p.file == label for p in problems):
                problems.append(Problem(label, "", "file is empty"))
            continue
        if not isinstance(data, dict):
            problems.append(Problem(label, "", "expected a mapping of fields (title, date, ...)"))
            continue
        try:
            entry = PaperEntry.model_validate(data)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(label, exc))
            continue
        papers.append(_check_paper(path, entry, types, model_index, model_by_name, problems))

    by_title: dict[str, PaperRecord] = {}
    by_arxiv: dict[str, PaperRecord] = {}
    for record in papers:
        title_key = _normal_title(record.entry.title)
        if title_key in by_title:
            problems.append(
                Problem(
                    str(record.path),
                    "title",
                    f"duplicate paper: same title as {by_title[title_key].path.name}",
                )
            )
        by_title.setdefault(title_key, record)
        arxiv = record.entry.arxiv
        if arxiv is not None:
            if arxiv in by_arxiv:
                problems.append(
                    Problem(
                        str(record.path),
                        "arxiv",
                        f"duplicate paper: arXiv id {arxiv} is also in {by_arxiv[arxiv].path.name}",
                    )
                )
            by_arxiv.setdefault(arxiv, record)

    return Catalog(head_types, models, papers, sorted(set(problems), key=_problem_order(problems)))


def _problem_order(problems: list[Problem]):  # type: ignore[no-untyped-def]
    # Keep the order problems were found in (file by file), dropping exact repeats.
    first_seen = {p: i for i, p in reversed(list(enumerate(problems)))}
    return lambda p: first_seen[p]


def require_valid(catalog: Catalog) -> Catalog:
    if catalog.problems:
        raise CatalogError(catalog.problems)
    return catalog
