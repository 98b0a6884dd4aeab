"""Name resolution by indexed lookups.

A head type resolves by the lookup key (``headdb.db.models.lookup_key``: case, spaces, '-' and '_'
do not count) of its slug, name, alias or name without 'Head', in that order of precedence; each
is an indexed column, so a lookup is one query whatever the size of the taxonomy. A model
resolves by ``model_name_key`` and revision (the unique index of its identity); ``NAME@REV``
names a revision. Whole tables are read only to suggest close names after a miss.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from sqlalchemy import Select, bindparam, literal, select, union_all
from sqlalchemy.orm import Session

from headdb.catalog.validate import NameIndex
from headdb.db.models import STAGES, HeadType, HeadTypeAlias, Model, lookup_key, model_name_key
from headdb.errors import NotFoundError


class UnknownNameError(NotFoundError):
    """A head type, stage, model or paper name that the database does not know."""


def head_type_id_query(key: Any) -> Select[tuple[int]]:
    """A select of the id of the head type whose lookup key (``lookup_key(name)``; a string or an
    SQL expression such as a bound parameter) is ``key``: no row if none, else the best match by
    precedence slug, name, alias, name without 'Head'."""
    candidates = union_all(
        select(HeadType.id.label("id"), literal(0).label("precedence")).where(HeadType.slug_key == key),
        select(HeadType.id, literal(1)).where(HeadType.name_key == key),
        select(HeadTypeAlias.head_type_id, literal(2)).where(HeadTypeAlias.alias_key == key),
        select(HeadType.id, literal(3)).where(HeadType.short_key == key),
    ).subquery()
    return select(candidates.c.id).order_by(candidates.c.precedence).limit(1)


@functools.cache
def _head_type_statement() -> Select[tuple[HeadType]]:
    return select(HeadType).where(HeadType.id == head_type_id_query(bindparam("key")).scalar_subquery())


def head_type(session: Session, name: str) -> HeadType:
    """The head type ``name`` names, or ``UnknownNameError`` with the closest known names."""
    found = session.scalar(_head_type_statement(), {"key": lookup_key(name)})
    if found is None:
        raise UnknownNameError(_head_type_index(session).unknown_message("head type", name))
    return found


def _head_type_index(session: Session) -> NameIndex:
    index = NameIndex()
    rows = session.execute(select(HeadType.slug, HeadType.name)).all()
    for slug, name in rows:
        index.add(slug, slug)
        index.add(name, slug)
    for alias, slug in session.execute(select(HeadTypeAlias.alias, HeadType.slug).join(HeadType)):
        index.add(alias, slug)
    return index


def split_revision(name: str) -> tuple[str, str]:
    """``("NAME", "REV")`` for ``"NAME@REV"``; ``(name, "")`` when there is no '@'."""
    base, at, revision = name.rpartition("@")
    return (base, revision) if at and base else (name, "")


def _find(session: Session, name: str, revision: str) -> Model | None:
    return session.scalar(select(Model).where(Model.name_key == model_name_key(name), Model.revision == revision))


def model(session: Session, name: str, revision: str | None = None) -> Model:
    """The model ``name`` at ``revision``.

    ``name`` is compared by ``model_name_key`` (case and separators do not count) or, if it is a
    local directory, by the directory's name (what ``headdb detect DIR`` stores it under).
    Without ``revision``, ``NAME@REV`` selects a revision and a plain name the model as published
    (revision "")."""
    candidates = [(name, revision)] if revision is not None else [(name, ""), split_revision(name)]
    for candidate, rev in dict.fromkeys(candidates):
        found = _find(session, candidate, rev)
        if found is not None:
            return found
    for candidate, rev in dict.fromkeys(candidates):
        if Path(candidate).expanduser().is_dir():
            from headdb.jobs.loading import local_model_name

            found = _find(session, local_model_name(candidate), rev)
            if found is not None:
                return found
    base, rev = candidates[-1]
    revisions = list_revisions(session, base)
    if revisions:
        shown = ", ".join(r or '""' for r in revisions[:8]) + (", ..." if len(revisions) > 8 else "")
        raise UnknownNameError(
            f"model {base!r} has no revision {rev!r}; its revisions: {shown} (ask for one as NAME@REV or revision=)"
        )
    index = NameIndex()
    for stored in session.scalars(select(Model.name).distinct()):
        index.add(stored, stored)
    raise UnknownNameError(index.unknown_message("model", name))


def list_revisions(session: Session, name: str) -> list[str]:
    """The stored revisions of the model ``name``, by training step, then revision."""
    rows = session.execute(
        select(Model.revision, Model.step).where(Model.name_key == model_name_key(name))
    ).all()
    return [r for r, _ in sorted(rows, key=lambda row: (row[1] is not None, row[1] or 0, row[0]))]


def stage(name: str) -> str:
    """The stage code ("LR") of a stage code or name ("Latent Reasoning")."""
    index = NameIndex()
    for code, stage_name in STAGES.items():
        index.add(code, code)
        index.add(stage_name, code)
    code = index.get(name)
    if code is None:
        raise UnknownNameError(index.unknown_message("stage", name))
    return code
