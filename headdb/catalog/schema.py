"""Pydantic models of the catalog's YAML files: paper entries, the taxonomy and the model registry.

These check the shape of one entry at a time. Checks that need the whole catalog (unknown head
types, duplicate papers, coordinates outside a model) live in ``headdb.catalog.validate``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from sqlalchemy import Column

from headdb.db.models import Claim, HeadType, HeadTypeAlias, Model, Paper, PaperLink, PublishedDataset
from headdb.text import CONTROL_CHARS, CONTROL_CHARS_EXCEPT_WHITESPACE, brief

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
ARXIV_PATTERN = r"^\d{4}\.\d{4,5}$"
# "layer.head"; six digits each is far beyond any model and keeps int() cheap.
COORDINATE_PATTERN = re.compile(r"^(\d{1,6})\.(\d{1,6})$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def column_limit(column: Any) -> int | None:
    """The length of a ``String(n)`` ORM column (None for unbounded types such as ``Text``):
    the validator enforces the database's own limits, so an entry that validates also fits."""
    column = column if isinstance(column, Column) else column.property.columns[0]
    return getattr(column.type, "length", None)


def _no_controls(value: str) -> str:
    found = CONTROL_CHARS_EXCEPT_WHITESPACE.search(value)
    if found:
        raise ValueError(f"control character {brief(found.group())} at position {found.start()} is not allowed")
    return value


def _single_line(value: str) -> str:
    found = CONTROL_CHARS.search(value)
    if found:
        what = "line break or tab" if found.group() in "\n\t" else "control character"
        raise ValueError(f"{what} {brief(found.group())} at position {found.start()} is not allowed here")
    return value


def line(column: Any = None, pattern: str | None = None) -> Any:
    """A one-line, non-empty string type, at most as long as ``column`` holds."""
    limit = column_limit(column) if column is not None else None
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=limit, pattern=pattern),
        AfterValidator(_single_line),
    ]


# Free text (summaries, notes, sources, descriptions) may hold line breaks and tabs, nothing else.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_no_controls)]
Line = line()
Slug = line(HeadType.slug, SLUG_PATTERN)
HeadTypeName = line(HeadType.name)  # a head type's name, or a name used to refer to one
ModelName = line(Model.name)  # a model's name, or a name used to refer to one
StageCode = Literal["KR", "ICI", "LR", "EP"]


class _Strict(BaseModel):
    # Unknown keys are errors: a misspelt key must not be silently dropped.
    model_config = ConfigDict(extra="forbid", frozen=True)


HeadTypeKind = Literal["mechanistic", "intervention-selected", "score-selected"]


class Placement(_Strict):
    """Who puts a head type in its stage, or why it has none.

    ``by: survey``: the survey's taxonomy places it. ``by: headdb``: headdb places it because a
    catalogued ``paper`` supports it (``reason`` says how, ``confidence`` how surely).
    ``by: unplaced``: no stage, and ``reason`` says why."""

    by: Literal["survey", "headdb", "unplaced"]
    paper: line(Paper.slug, SLUG_PATTERN) | None = None
    reason: Text | None = None
    confidence: Literal["high", "medium", "low"] | None = None


class MergedType(_Strict):
    """A former head type folded into this one as a duplicate; its slug and name stay aliases."""

    slug: Slug
    name: HeadTypeName
    reason: Text
    description: Text | None = None


class DistinctFrom(_Strict):
    """A type suspected to duplicate this one that headdb keeps separate, and why."""

    slug: Slug
    reason: Text


class HeadTypeEntry(_Strict):
    slug: Slug
    name: HeadTypeName
    stage: StageCode | None = None
    group: line(HeadType.group) | None = None
    aliases: list[line(HeadTypeAlias.alias)] = Field(default_factory=list)
    model_families: list[Line] = Field(default_factory=list)
    description: Text
    # mechanistic: defined by what the head computes; intervention-selected: the heads a probe,
    # steering, ablation or optimisation score ranks highest for a behaviour; score-selected:
    # ranked by an observational score with no intervention.
    kind: HeadTypeKind = "mechanistic"
    kind_note: Text | None = None
    placement: Placement
    merged: list[MergedType] = Field(default_factory=list)
    distinct_from: list[DistinctFrom] = Field(default_factory=list)


class ModelEntry(_Strict):
    name: ModelName
    family: line(Model.family) | None = None
    source: line(Model.source) | None = None
    aliases: list[ModelName] = Field(default_factory=list)
    architecture: line(Model.architecture) | None = None
    n_layers: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    n_kv_heads: int | None = Field(default=None, gt=0)
    d_model: int | None = Field(default=None, gt=0)
    d_head: int | None = Field(default=None, gt=0)
    d_vocab: int | None = Field(default=None, gt=0)
    description: Annotated[str, AfterValidator(_no_controls)] = ""


class Summary(_Strict):
    """The survey template's summary: what is new, what was done, what was found."""

    innovation: Text
    tasks: Text
    significant_result: Text


class ClaimEntry(_Strict):
    """One head a paper reports: ``head`` is "layer.head", 0-indexed as in TransformerLens."""

    model: ModelName
    head: str
    type: HeadTypeName | None = None
    role: line(Claim.role) | None = None
    note: Text | None = None
    source: Text
    confidence: Literal["high", "medium", "low"] = "high"
    # Where sources disagree about this claim (another head, another type): what each says.
    conflict: Text | None = None

    @field_validator("head", mode="before")
    @classmethod
    def _coordinate(cls, value: object) -> str:
        if isinstance(value, float):
            raise ValueError(
                f"write layer.head as a quoted string, e.g. '{value}' in quotes: YAML reads an "
                f"unquoted {value} as a number and drops trailing zeros (10.10 becomes 10.1)"
            )
        match = COORDINATE_PATTERN.match(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f"expected 'layer.head' such as '9.6', got {brief(value)}")
        # Canonical form: "01.02" and "1.2" are the same head, so they must be the same claim.
        return f"{int(match.group(1))}.{int(match.group(2))}"

    @property
    def layer_head(self) -> tuple[int, int]:
        match = COORDINATE_PATTERN.match(self.head)
        assert match is not None
        return int(match.group(1)), int(match.group(2))


# Bibliographic fields an entry may leave empty, if ``missing`` says why.
MISSABLE_FIELDS = ("authors", "arxiv", "venue")
# Keys of ``sources``: where each bibliographic fact was read.
SOURCE_KEYS = Literal["title", "authors", "arxiv", "date", "venue", "heads", "note"]


class PaperEntry(_Strict):
    """One file under ``papers/``: the survey template plus date, links and head claims.

    ``date`` is always the first public version (arXiv v1, or the first public posting where
    there is no preprint), as precisely as the sources give it (``date_precision``);
    ``published_in`` says where that version appeared. ``venue``/``venue_year`` name the
    peer-reviewed venue, where there is one. ``authors``, ``arxiv`` and ``venue`` are each either
    filled or explained in ``missing`` (field -> reason), never silently empty."""

    title: line(Paper.title)
    date: dt.date
    # How much of `date` is known: a source with only a month or year gives its first day.
    date_precision: Literal["day", "month", "year"] = "day"
    published_in: line(Paper.published_in) = Field(
        description="where the first public version appeared: arXiv, LessWrong, ACL Anthology, ..."
    )
    venue: line(Paper.venue) | None = Field(default=None, description="peer-reviewed venue with its year, e.g. 'ICLR 2024'")
    venue_year: int | None = Field(default=None, ge=1900, le=2100)
    heads: list[HeadTypeName]  # head types the paper names; [] where it names none
    authors: list[Line] = Field(default_factory=list)
    arxiv: line(Paper.arxiv_id, ARXIV_PATTERN) | None = None
    missing: dict[Literal["authors", "arxiv", "venue"], Text] = Field(default_factory=dict)
    sources: dict[SOURCE_KEYS, Text] = Field(default_factory=dict)
    links: list[line(PaperLink.url, r"^https?://\S+$")] = Field(min_length=1)
    summary: Summary
    claims: list[ClaimEntry] = Field(default_factory=list)

    @field_validator("date", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        # YAML turns a well-formed date into a date already; anything else must be YYYY-MM-DD.
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str) and ISO_DATE.match(value.strip()):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise ValueError(f"malformed date {brief(value)}: expected YYYY-MM-DD, e.g. 2024-05-28")


def bibliographic_problems(entry: PaperEntry) -> list[tuple[str, str]]:
    """(field, reason) for each rule across an entry's bibliographic fields: every missable field
    filled or explained in ``missing``, venue and year together, dates as precise as stated."""
    problems: list[tuple[str, str]] = []
    for name in MISSABLE_FIELDS:
        filled = bool(getattr(entry, name))
        if filled and name in entry.missing:
            problems.append((f"missing.{name}", f"`{name}` is filled, so remove `missing.{name}`"))
        elif not filled and name not in entry.missing:
            problems.append(
                (name, f"empty: fill it, or say why in `missing.{name}` (e.g. 'no arXiv version found')")
            )
    if (entry.venue is None) != (entry.venue_year is None):
        problems.append(("venue_year" if entry.venue else "venue", "`venue` and `venue_year` go together: give both or neither"))
    elif entry.venue is not None and str(entry.venue_year) not in entry.venue:
        problems.append(("venue", f"should name its year {entry.venue_year}, e.g. 'ICLR {entry.venue_year}'"))
    if entry.date_precision != "day":
        first = entry.date.replace(day=1) if entry.date_precision == "month" else entry.date.replace(month=1, day=1)
        if entry.date != first:
            problems.append(
                ("date", f"with date_precision {entry.date_precision}, write {first.isoformat()} (the first day of what is known)")
            )
    return problems


class PublishedSource(_Strict):
    """Where a published dataset's file lives: a repository, a path in it and the commit read."""

    repository: line(PublishedDataset.repository, r"^https?://\S+$")
    path: line(PublishedDataset.path)
    commit: line(PublishedDataset.commit, r"^[0-9a-f]{7,64}$")


class Threshold(_Strict):
    """The paper's own rule for its head type: a head is one when its value ``op`` ``value``."""

    value: float
    op: Literal[">", ">="] = ">"
    source: Text  # where the paper states it


class PublishedEntry(_Strict):
    """One ``published/<paper slug>/<name>.yaml``: what the paper published for every head of
    one model; the values are in ``<name>.csv`` beside it (columns layer, head, value[, role])."""

    title: line(PublishedDataset.title)
    model: ModelName
    head_type: HeadTypeName | None = None
    kind: Literal["scores", "members"]
    quantity: Text
    source: PublishedSource
    derivation: Text
    derived_by: line(PublishedDataset.derived_by) | None = None
    n_samples: int | None = Field(default=None, gt=0)
    threshold: Threshold | None = None
    note: Text | None = None
