"""Load and validate the whole catalog: taxonomy, model registry and every paper entry.

Nothing stops at the first problem: every file is read, every entry checked, and all problems
come back together, each naming its file, field and reason. This is what a contributor's pull
request is checked with (``headdb validate``) and what ``headdb ingest`` runs before writing.

Files are read with ``headdb.catalog.safe_yaml`` (size, depth, alias and duplicate-key limits),
paper entries are only regular ``*.yaml`` files of the papers directory (links and special files
are reported, never opened), and whatever else goes wrong while checking one file becomes a
problem of that file (``_checked``), so one hostile file cannot hide the others' problems.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from headdb.catalog.published import PublishedRecord, load_published
from headdb.catalog.safe_yaml import CatalogFileError, load_catalog_file
from headdb.catalog.schema import (
    SLUG_PATTERN,
    HeadTypeEntry,
    ModelEntry,
    PaperEntry,
    bibliographic_problems,
    column_limit,
)
from headdb.db.models import Paper
from headdb.errors import HeadDBError
from headdb.text import brief, escape_controls, one_line, truncate

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DEFAULT_TAXONOMY = DATA_DIR / "taxonomy.yaml"
DEFAULT_MODELS = DATA_DIR / "models.yaml"

Entry = TypeVar("Entry", bound=BaseModel)
T = TypeVar("T")

# Paper entries are the *.yaml files of the papers directory; other YAML spellings are reported.
ENTRY_SUFFIX = ".yaml"
YAML_SUFFIXES = (".yaml", ".yml")
# Bounds on what one file can make the validator print.
MAX_PROBLEMS_PER_FILE = 25
MAX_FIELD = 120
MAX_MESSAGE = 500


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the catalog: where (file and field) and why.

    Field and message are bounded in length, so no input can make a problem arbitrarily large;
    ``str()`` also escapes control characters, so none reaches the terminal."""

    file: str
    field: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", truncate(self.field, MAX_FIELD))
        object.__setattr__(self, "message", truncate(self.message, MAX_MESSAGE))

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return escape_controls(f"{where}: {self.message}")


class CatalogError(HeadDBError, ValueError):
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
    published: list[PublishedRecord] = field(default_factory=list)

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
        suffix = f"; closest known: {', '.join(brief(h) for h in hint)}" if hint else ""
        return f"unknown {kind} {brief(name)}{suffix}"


def _field_path(loc: Iterable[Any]) -> str:
    path = ""
    for part in loc:
        name = truncate(str(part), 40)
        path += f"[{name}]" if isinstance(part, int) else (f".{name}" if path else name)
    return path


def _pydantic_message(item: Any) -> str:
    kind = item["type"]
    if kind == "missing":
        return "missing required field"
    if kind == "extra_forbidden":
        return "unknown key (allowed keys are documented in CONTRIBUTING.md)"
    if kind == "string_too_long":
        return (
            f"too long: {len(item['input'])} characters, but the database holds at most "
            f"{item['ctx']['max_length']}"
        )
    message = str(item["msg"]).removeprefix("Value error, ")
    if kind != "value_error" and "input" in item:
        message += f" (got {brief(item['input'])})"
    return message


def _pydantic_problems(file: str, error: ValidationError, prefix: tuple[Any, ...] = ()) -> list[Problem]:
    return [
        Problem(file, _field_path(prefix + tuple(item["loc"])), _pydantic_message(item))
        for item in error.errors(include_url=False)
    ]


_UNREADABLE = object()


def _read_yaml(path: Path, label: str, problems: list[Problem], follow_symlinks: bool = True) -> Any:
    """The file's YAML data, or ``_UNREADABLE`` after recording why it could not be read."""
    try:
        return load_catalog_file(path, follow_symlinks=follow_symlinks)
    except CatalogFileError as exc:
        problems.append(Problem(label, exc.where, exc.message))
        return _UNREADABLE


def _checked(label: str, problems: list[Problem], check: Callable[[], T]) -> T | None:
    """Run ``check`` on one file; an exception it did not expect becomes a problem of that file.

    This is the validator's single catch-all, and deliberately broad: whatever one hostile file
    triggers, every other file is still checked and the report still names every problem. The
    exception's type stays in the message so that the bug behind it can be found and fixed."""
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - the one documented per-file error path
        detail = one_line(str(exc), 120)
        message = f"could not be checked: unexpected {type(exc).__name__}" + (f" ({detail})" if detail else "")
        problems.append(Problem(label, "", message))
        return None


def _load_list(path: Path, model: type[Entry], problems: list[Problem]) -> list[Entry]:
    return _checked(str(path), problems, lambda: _parse_list(path, model, problems)) or []


def _parse_list(path: Path, model: type[Entry], problems: list[Problem]) -> list[Entry]:
    label = str(path)
    data = _read_yaml(path, label, problems)
    if data is _UNREADABLE or data is None:
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
            problems.append(Problem(label, f"[{i}].slug", f"duplicate slug {brief(entry.slug)}"))
        slugs.add(entry.slug)
        for j, alias in enumerate(entry.aliases):
            if alias in entry.aliases[:j]:
                problems.append(Problem(label, f"[{i}].aliases[{j}]", f"alias {brief(alias)} listed twice"))
        for j, name in enumerate((entry.slug, entry.name, *entry.aliases)):
            other = index.add(name, entry.slug)
            if other is not None:
                where = f"[{i}].name" if j < 2 else f"[{i}].aliases[{j - 2}]"
                problems.append(
                    Problem(label, where, f"{brief(name)} already names head type {brief(other)}")
                )
        # A merged type's slug and name keep resolving, to the type it was merged into.
        for j, merged in enumerate(entry.merged):
            for key, name in (("slug", merged.slug), ("name", merged.name)):
                other = index.add(name, entry.slug)
                if other is not None:
                    problems.append(
                        Problem(label, f"[{i}].merged[{j}].{key}", f"{brief(name)} already names head type {brief(other)}")
                    )
        problems.extend(Problem(label, f"[{i}].{where}", message) for where, message in _taxonomy_rules(entry))
    for i, entry in enumerate(entries):
        for j, other in enumerate(entry.distinct_from):
            if other.slug not in slugs or other.slug == entry.slug:
                problems.append(Problem(label, f"[{i}].distinct_from[{j}].slug", index.unknown_message("head type", other.slug)))
    return index


def _taxonomy_rules(entry: HeadTypeEntry) -> list[tuple[str, str]]:
    """(field, reason) for each rule tying stage, placement and kind together."""
    out = []
    placement = entry.placement
    if placement.by == "unplaced":
        if entry.stage is not None or entry.group is not None:
            out.append(("stage", "an unplaced type has no stage or group (or set placement.by to survey or headdb)"))
        if not placement.reason:
            out.append(("placement.reason", "say why the type stays unplaced"))
    else:
        if entry.stage is None:
            out.append(("stage", f"placement.by is {placement.by}, so give the stage (KR, ICI, LR or EP)"))
        if placement.by == "headdb" and (placement.paper is None or not placement.reason or placement.confidence is None):
            out.append(("placement", "headdb's own placement needs the catalogued `paper` that supports it, a `reason` and a `confidence`"))
    if placement.by != "headdb" and (placement.paper is not None or placement.confidence is not None):
        out.append(("placement", "`paper` and `confidence` belong to placements by headdb"))
    if entry.kind != "mechanistic" and not entry.kind_note:
        out.append(("kind_note", f"a {entry.kind} type needs `kind_note`: how its heads are selected, and in which paper"))
    return out


def _model_index(entries: list[ModelEntry], label: str, problems: list[Problem]) -> NameIndex:
    index = NameIndex()
    names: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.name in names:
            problems.append(Problem(label, f"[{i}].name", f"duplicate model {brief(entry.name)}"))
        names.add(entry.name)
        for name in (entry.name, *entry.aliases):
            other = index.add(name, entry.name)
            if other is not None:
                problems.append(
                    Problem(label, f"[{i}].name", f"{brief(name)} already names model {brief(other)}")
                )
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
    problems.extend(Problem(label, where, message) for where, message in bibliographic_problems(entry))
    problems.extend(Problem(label, where, "still a TODO placeholder: fill it in") for where in _todos(entry.model_dump(mode="json")))
    head_slugs: list[str] = []
    for i, name in enumerate(entry.heads):
        slug = types.get(name)
        if slug is None:
            problems.append(Problem(label, f"heads[{i}]", types.unknown_message("head type", name)))
        elif slug in head_slugs:
            problems.append(Problem(label, f"heads[{i}]", f"head type {brief(name)} listed twice"))
        else:
            head_slugs.append(slug)
    for i, url in enumerate(entry.links):
        if url in entry.links[:i]:
            problems.append(Problem(label, f"links[{i}]", "link listed twice"))

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
        # claim.head is canonical ("01.02" is "1.2"), so a repeated head is caught here.
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


def _todos(data: Any, path: str = "") -> list[str]:
    """Field paths of the strings that still hold a ``TODO`` placeholder (``headdb new paper``)."""
    if isinstance(data, str):
        return [path] if "TODO" in data else []
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _todos(v, f"{path}.{k}" if path else str(k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _todos(v, f"{path}[{i}]")]
    return []


def _refusal(entry: os.DirEntry[str]) -> str:
    """Why the directory entry ``entry`` is not read as a paper entry, or "" if it is one."""
    if not entry.name.endswith(ENTRY_SUFFIX):
        stem = entry.name.rsplit(".", 1)[0]
        return f"paper entries use the lowercase .yaml extension: rename it to {stem}.yaml"
    if entry.is_symlink():
        return "is a symbolic link; paper entries must be regular files (links are not followed)"
    mode = entry.stat(follow_symlinks=False).st_mode
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a special file"
        return f"not a regular file ({kind}); paper entries must be regular files"
    return ""


def _discover(papers_dir: Path, problems: list[Problem]) -> list[Path]:
    """The paper entries to read: the regular ``*.yaml`` files directly in ``papers_dir``.

    Other spellings (``.yml``, ``.YAML``), symbolic links and anything that is not a regular file
    (a directory named ``x.yaml``, a FIFO, a device) are reported as problems and never opened."""
    try:
        entries = sorted(os.scandir(papers_dir), key=lambda e: e.name)
    except OSError as exc:
        problems.append(Problem(str(papers_dir), "", f"cannot list directory: {exc.strerror or type(exc).__name__}"))
        return []
    paths = []
    for entry in entries:
        if not entry.name.lower().endswith(YAML_SUFFIXES):
            continue
        label = str(Path(entry.path))
        reason = _checked(label, problems, lambda entry=entry: _refusal(entry))  # type: ignore[misc]
        if reason:
            problems.append(Problem(label, "", reason))
        elif reason is not None:
            paths.append(Path(entry.path))
    return paths


def _load_paper(
    path: Path,
    types: NameIndex,
    models: NameIndex,
    model_by_name: dict[str, ModelEntry],
    problems: list[Problem],
) -> PaperRecord | None:
    label = str(path)
    slug_limit = column_limit(Paper.slug)
    if not re.match(SLUG_PATTERN, path.stem):
        problems.append(
            Problem(label, "", "file name must be a slug: lowercase letters, digits and hyphens")
        )
    elif slug_limit is not None and len(path.stem) > slug_limit:
        problems.append(
            Problem(label, "", f"file name too long: {len(path.stem)} characters before .yaml, at most {slug_limit}")
        )
    data = _read_yaml(path, label, problems, follow_symlinks=False)
    if data is _UNREADABLE:
        return None
    if data is None:
        problems.append(Problem(label, "", "file is empty"))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(label, "", "expected a mapping of fields (title, date, ...)"))
        return None
    try:
        entry = PaperEntry.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(label, exc))
        return None
    return _check_paper(path, entry, types, models, model_by_name, problems)


def _normal_title(title: str) -> str:
    return re.sub(r"\W+", " ", title).strip().casefold()


def default_published_dir(papers_dir: Path | str) -> Path | None:
    """``published/`` beside the papers directory, where it exists (the repository's layout)."""
    candidate = Path(papers_dir).parent / "published"
    return candidate if candidate.is_dir() else None


def load_catalog(
    papers_dir: Path | str,
    taxonomy_path: Path | str = DEFAULT_TAXONOMY,
    models_path: Path | str = DEFAULT_MODELS,
    published_dir: Path | str | None | bool = True,
) -> Catalog:
    """Read and check everything; the result's ``problems`` is empty iff the catalog is valid.

    ``published_dir``: the published per-head data to check too; ``True`` (the default) means
    ``published/`` beside ``papers_dir`` where it exists, ``None`` or ``False`` none."""
    papers_dir, taxonomy_path, models_path = Path(papers_dir), Path(taxonomy_path), Path(models_path)
    if published_dir is True:
        published_dir = default_published_dir(papers_dir)
    elif published_dir is False:
        published_dir = None
    problems: list[Problem] = []

    head_types = _load_list(taxonomy_path, HeadTypeEntry, problems)
    types = _taxonomy_index(head_types, str(taxonomy_path), problems)
    models = _load_list(models_path, ModelEntry, problems)
    model_index = _model_index(models, str(models_path), problems)
    model_by_name = {m.name: m for m in models}

    if not papers_dir.is_dir():
        problems.append(Problem(str(papers_dir), "", "papers directory not found"))
        return Catalog(head_types, models, [], _bounded(problems))

    papers: list[PaperRecord] = []
    paths = _discover(papers_dir, problems)
    if not paths and not any(p.file.startswith(str(papers_dir)) for p in problems):
        problems.append(Problem(str(papers_dir), "", "no paper entries (*.yaml) found"))
    for path in paths:
        record = _checked(
            str(path), problems,
            lambda path=path: _load_paper(path, types, model_index, model_by_name, problems),  # type: ignore[misc]
        )
        if record is not None:
            papers.append(record)

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

    slugs = {record.slug for record in papers}

    published: list[PublishedRecord] = []
    if published_dir is not None:
        published_dir = Path(published_dir)
        if not published_dir.is_dir():
            problems.append(Problem(str(published_dir), "", "published data directory not found"))
        else:
            def read(path: Path) -> object:
                data = _read_yaml(path, str(path), problems, follow_symlinks=False)
                return None if data is _UNREADABLE else data

            published = _checked(str(published_dir), problems, lambda: load_published(
                published_dir, slugs, types.get, model_index.get, model_by_name,
                lambda f, w, m: problems.append(Problem(f, w, m)), read,
                lambda name: types.unknown_message("head type", name),
                lambda name: model_index.unknown_message("model", name),
            )) or []

    return Catalog(head_types, models, papers, _bounded(problems), published)


def _bounded(problems: list[Problem]) -> list[Problem]:
    """``problems`` in the order found (file by file), without exact repeats, and at most
    ``MAX_PROBLEMS_PER_FILE`` of each file (then one saying how many more there were)."""
    per_file: dict[str, list[Problem]] = defaultdict(list)
    for problem in dict.fromkeys(problems):
        per_file[problem.file].append(problem)
    out: list[Problem] = []
    for file, found in per_file.items():
        out += found[:MAX_PROBLEMS_PER_FILE]
        if len(found) > MAX_PROBLEMS_PER_FILE:
            more = len(found) - MAX_PROBLEMS_PER_FILE
            out.append(Problem(file, "", f"... and {more} more problem(s) in this file"))
    return out


def require_valid(catalog: Catalog) -> Catalog:
    if catalog.problems:
        raise CatalogError(catalog.problems)
    return catalog
