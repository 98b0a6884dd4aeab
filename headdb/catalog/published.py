"""Published per-head data: what a paper's authors released for every head of a model.

On disk, ``published/<paper slug>/<name>.yaml`` describes one dataset (model, head type, what a
value means, the repository, path and commit it was derived from, how, and the paper's own
threshold where it states one), and ``<name>.csv`` beside it holds the values:

    layer,head,value[,role]

``kind: scores`` datasets give a value for every head of the model, each exactly once (e.g.
Wu et al.'s retrieval scores); ``kind: members`` datasets list the heads of a published circuit,
value 1, each at most once (heads not listed are not in it). Coordinates are 0-indexed, as in
TransformerLens. The files are checked like paper entries (every problem, with file, field or
line, and reason) and ingested in the same transaction.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from headdb.catalog.safe_yaml import CatalogFileError, decode_utf8, read_catalog_bytes
from headdb.catalog.schema import ModelEntry, PublishedEntry, column_limit
from headdb.db.models import PublishedDataset, PublishedValue
from headdb.text import CONTROL_CHARS, brief

COLUMNS = ("layer", "head", "value")
ROLE_LIMIT = column_limit(PublishedValue.role)
SLUG_LIMIT = column_limit(PublishedDataset.slug)
MAX_ROWS = 100_000
# Dataset file names: lowercase letters, digits, hyphens and dots ("qwen1.5-14b").
NAME_PATTERN = r"^[a-z0-9]+(?:[-.][a-z0-9]+)*$"


@dataclass(frozen=True)
class PublishedRecord:
    """A validated dataset: its slug ``<paper>/<name>``, the entry, resolved names, and rows."""

    slug: str
    paper: str
    path: Path
    entry: PublishedEntry
    model: str
    head_type: str | None
    rows: tuple[tuple[int, int, float, str | None], ...]

    @property
    def csv_path(self) -> Path:
        return self.path.with_suffix(".csv")


def _regular_entries(directory: Path, report: Callable[[str, str, str], None]) -> list[os.DirEntry[str]]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        report(str(directory), "", f"cannot list directory: {exc.strerror or type(exc).__name__}")
        return []
    out = []
    for entry in entries:
        if entry.is_symlink():
            report(entry.path, "", "is a symbolic link; published data must be regular files and directories")
            continue
        out.append(entry)
    return out


def _read_rows(
    path: Path, kind: str, n_layers: int, n_heads: int, report: Callable[[str, str, str], None]
) -> list[tuple[int, int, float, str | None]]:
    label = str(path)
    try:
        text = decode_utf8(read_catalog_bytes(path, follow_symlinks=False))
    except CatalogFileError as exc:
        report(label, exc.where, exc.message)
        return []
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(header[:3]) != COLUMNS or header[3:] not in ([], ["role"]):
        report(label, "line 1", "the header must be `layer,head,value` or `layer,head,value,role`")
        return []
    rows: list[tuple[int, int, float, str | None]] = []
    seen: dict[tuple[int, int], int] = {}
    for number, row in enumerate(reader, start=2):
        where = f"line {number}"
        if number > MAX_ROWS:
            report(label, where, f"more than {MAX_ROWS:,} rows")
            break
        if len(row) != len(header):
            report(label, where, f"expected {len(header)} columns, found {len(row)}")
            continue
        try:
            layer, head = int(row[0]), int(row[1])
            value = float(row[2])
        except ValueError:
            report(label, where, f"layer and head must be whole numbers and value a number, got {brief(','.join(row[:3]))}")
            continue
        if not math.isfinite(value):
            report(label, where, f"value must be finite, got {brief(row[2])}")
            continue
        if not (0 <= layer < n_layers and 0 <= head < n_heads):
            report(label, where, f"head {layer}.{head} is outside the model (layers 0-{n_layers - 1}, heads 0-{n_heads - 1})")
            continue
        if (layer, head) in seen:
            report(label, where, f"head {layer}.{head} is listed twice (first on line {seen[(layer, head)]})")
            continue
        if kind == "members" and value != 1:
            report(label, where, "a members dataset lists circuit heads with value 1")
            continue
        role = row[3].strip() if len(row) > 3 and row[3].strip() else None
        if role is not None and (CONTROL_CHARS.search(role) or (ROLE_LIMIT and len(role) > ROLE_LIMIT)):
            report(label, where, f"role must be one line of at most {ROLE_LIMIT} characters")
            continue
        seen[(layer, head)] = number
        rows.append((layer, head, value, role))
    if kind == "scores" and len(rows) != n_layers * n_heads and len(seen) == len(rows):
        missing = [f"{l}.{h}" for l in range(n_layers) for h in range(n_heads) if (l, h) not in seen]
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            report(label, "", f"a scores dataset needs every head of the model exactly once; {len(missing)} missing ({shown})")
    return sorted(rows)


def load_published(
    published_dir: Path,
    paper_slugs: set[str],
    resolve_type: Callable[[str], str | None],
    resolve_model: Callable[[str], str | None],
    model_by_name: dict[str, ModelEntry],
    report: Callable[[str, str, str], None],
    load_yaml_file: Callable[[Path], object],
    type_message: Callable[[str], str],
    model_message: Callable[[str], str],
) -> list[PublishedRecord]:
    """Every dataset under ``published_dir``, checked; problems go to ``report(file, field, reason)``."""
    records: list[PublishedRecord] = []
    for paper_dir in _regular_entries(published_dir, report):
        if not paper_dir.is_dir(follow_symlinks=False):
            if not paper_dir.name.startswith(".") and paper_dir.name != "README.md":
                report(paper_dir.path, "", "expected a directory named after a paper entry (published/<paper slug>/)")
            continue
        if paper_dir.name not in paper_slugs:
            report(paper_dir.path, "", f"no paper entry papers/{paper_dir.name}.yaml for this directory")
            continue
        files = _regular_entries(Path(paper_dir.path), report)
        names = {f.name for f in files}
        for file in files:
            path = Path(file.path)
            if not stat.S_ISREG(file.stat(follow_symlinks=False).st_mode):
                report(file.path, "", "not a regular file")
                continue
            if path.suffix == ".csv":
                if path.with_suffix(".yaml").name not in names:
                    report(file.path, "", f"no {path.with_suffix('.yaml').name} describes this file")
                continue
            if path.suffix != ".yaml":
                report(file.path, "", "published data holds only <name>.yaml and <name>.csv files")
                continue
            record = _load_one(path, paper_dir.name, names, resolve_type, resolve_model, model_by_name,
                               report, load_yaml_file, type_message, model_message)
            if record is not None:
                records.append(record)
    return records


def _load_one(
    path: Path,
    paper: str,
    names: set[str],
    resolve_type: Callable[[str], str | None],
    resolve_model: Callable[[str], str | None],
    model_by_name: dict[str, ModelEntry],
    report: Callable[[str, str, str], None],
    load_yaml_file: Callable[[Path], object],
    type_message: Callable[[str], str],
    model_message: Callable[[str], str],
) -> PublishedRecord | None:
    label = str(path)
    slug = f"{paper}/{path.stem}"
    if not re.match(NAME_PATTERN, path.stem):
        report(label, "", "file name must be lowercase letters, digits, hyphens and dots")
        return None
    if SLUG_LIMIT and len(slug) > SLUG_LIMIT:
        report(label, "", f"paper slug and file name together are too long ({len(slug)} characters, at most {SLUG_LIMIT})")
        return None
    data = load_yaml_file(path)
    if data is None:
        return None
    if not isinstance(data, dict):
        report(label, "", "expected a mapping of fields (title, model, kind, ...)")
        return None
    try:
        entry = PublishedEntry.model_validate(data)
    except ValidationError as exc:
        from headdb.catalog.validate import _field_path, _pydantic_message

        for item in exc.errors(include_url=False):
            report(label, _field_path(item["loc"]), _pydantic_message(item))
        return None
    ok = True
    head_type = None
    if entry.head_type is not None:
        head_type = resolve_type(entry.head_type)
        if head_type is None:
            report(label, "head_type", type_message(entry.head_type))
            ok = False
    if entry.threshold is not None and entry.head_type is None:
        report(label, "threshold", "a threshold labels heads as a head type: give `head_type` too")
        ok = False
    model = resolve_model(entry.model)
    if model is None:
        report(label, "model", model_message(entry.model) + " (add it to headdb/data/models.yaml first)")
        return None
    if path.with_suffix(".csv").name not in names:
        report(label, "", f"the values file {path.with_suffix('.csv').name} is missing")
        return None
    spec = model_by_name[model]
    before = []
    rows = _read_rows(path.with_suffix(".csv"), entry.kind, spec.n_layers, spec.n_heads,
                      lambda f, w, m: before.append((f, w, m)))
    for problem in before:
        report(*problem)
    if before or not ok:
        return None
    if not rows:
        report(str(path.with_suffix(".csv")), "", "no rows")
        return None
    return PublishedRecord(slug, paper, path, entry, model, head_type, tuple(rows))
