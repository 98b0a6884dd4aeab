"""Pydantic models of the catalog's YAML files: paper entries, the taxonomy and the model registry.

These check the shape of one entry at a time. Checks that need the whole catalog (unknown head
types, duplicate papers, coordinates outside a model) live in ``headdb.catalog.validate``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import Column

from headdb.db.models import Claim, HeadType, HeadTypeAlias, Model, Paper, PaperLink
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


class HeadTypeEntry(_Strict):
    slug: Slug
    name: HeadTypeName
    stage: StageCode | None = None
    group: line(HeadType.group) | None = None
    aliases: list[line(HeadTypeAlias.alias)] = Field(default_factory=list)
    model_families: list[Line] = Field(default_factory=list)
    description: Text


class ModelEntry(_Strict):
    name: ModelName
    family: line(Model.family) | None = None
    source: line(Model.source) | None = None
    aliases: list[ModelName] = Field(default_factory=list)
    architecture: line(Model.architecture) | None = None
    n_layers: int = Field(gt=0)
    n_heads: int = Field(gt=0)
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


class PaperEntry(_Strict):
    """One file under ``papers/``: the survey template plus date, links and head claims."""

    title: line(Paper.title)
    date: dt.date
    # How much of `date` is known: a source with only a month or year gives its first day.
    date_precision: Literal["day", "month", "year"] = "day"
    published: line(Paper.venue) = Field(description="venue or source, e.g. 'ICLR 2024', 'arXiv'")
    heads: list[HeadTypeName]  # head types the paper names; [] where it names none
    authors: list[Line] = Field(default_factory=list)
    arxiv: line(Paper.arxiv_id, ARXIV_PATTERN) | None = None
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
