"""Sweep specifications: which (model, revision) pairs a sweep runs.

A spec is ``NAME_OR_PATH[@REVISIONS]``:

- ``NAME_OR_PATH``: a hub id (``EleutherAI/pythia-160m``), a name of headdb's model registry
  (``gpt2``) or a local Hugging Face model directory;
- ``REVISIONS``: a comma-separated list of revision patterns, each expanded like a shell brace
  expression: ``{a..b}`` and ``{a..b..step}`` count (``step{1000..3000..1000}`` gives step1000,
  step2000, step3000; an endpoint written with leading zeros pads every number to its width, as
  in ``step-{000500..003500..500}``), and ``{x,y}`` lists alternatives. Without ``@`` the model
  as published (revision "") is meant;
- for a local directory, ``@checkpoints`` (or the ``--checkpoints`` flag) means every checkpoint
  saved under ``DIR/checkpoints/`` (a subdirectory holding a ``config.json``), by training step,
  and a pattern with ``*``, ``?`` or ``[...]`` selects checkpoints by name (``@step-00*``).

A file of specs holds one per line; blank lines and ``#`` comments are ignored.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from headdb.errors import InvalidArgumentError

MAX_TASKS = 100_000  # far more than any sweep; a typo like {1..10000000} fails fast instead
CHECKPOINTS = "checkpoints"
_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$")
_GLOB = re.compile(r"[*?\[]")


class SweepSpecError(InvalidArgumentError):
    """A sweep spec that cannot be expanded: unbalanced braces, a zero step, no checkpoints, ..."""


@dataclass(frozen=True)
class SweepTask:
    """One job of a sweep: a model source at one revision, stored under ``name`` if given."""

    source: str  # hub id, registry name, or absolute local directory
    revision: str = ""  # "" = the model as published
    name: str | None = None  # the name to store the model under (default: as `headdb detect` does)

    @property
    def label(self) -> str:
        base = self.name or self.source
        return f"{base}@{self.revision}" if self.revision else base


def _split_top(text: str, sep: str = ",") -> list[str]:
    """``text`` split at ``sep`` outside braces."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise SweepSpecError(f"unbalanced '}}' in revision pattern {text!r}")
        if char == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise SweepSpecError(f"unbalanced '{{' in revision pattern {text!r}")
    parts.append("".join(current))
    return parts


def _range(match: re.Match[str], pattern: str) -> list[str]:
    first, last = int(match.group(1)), int(match.group(2))
    step = int(match.group(3)) if match.group(3) else 1
    if step == 0:
        raise SweepSpecError(f"a range step may not be 0 in {pattern!r}")
    step = abs(step) if last >= first else -abs(step)
    count = (last - first) // step + 1
    if count > MAX_TASKS:
        raise SweepSpecError(f"{pattern!r} expands to {count:,} revisions, more than {MAX_TASKS:,}")
    ends = (match.group(1).lstrip("-"), match.group(2).lstrip("-"))
    width = max(len(e) for e in ends) if any(len(e) > 1 and e.startswith("0") for e in ends) else 0
    return [f"{n:0{width}d}" if n >= 0 else f"-{-n:0{width}d}" for n in range(first, last + step, step)][:count]


def expand(pattern: str) -> list[str]:
    """Every string a brace pattern stands for, in order (``a{1..3}`` -> a1, a2, a3)."""
    out: list[str] = []
    for part in _split_top(pattern):
        out.extend(_expand_one(part, pattern))
        if len(out) > MAX_TASKS:
            raise SweepSpecError(f"{pattern!r} expands to more than {MAX_TASKS:,} revisions")
    return out


def _expand_one(text: str, whole: str) -> list[str]:
    start = text.find("{")
    if start < 0:
        return [text]
    depth = 0
    for end in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0:
            break
    head, body, tail = text[:start], text[start + 1 : end], text[end + 1 :]
    match = _RANGE.match(body)
    if match:
        choices = _range(match, whole)
    else:
        alternatives = _split_top(body)
        if len(alternatives) < 2:
            raise SweepSpecError(f"{{{body}}} in {whole!r} is neither a range {{a..b..step}} nor a list {{x,y}}")
        choices = [c for alt in alternatives for c in _expand_one(alt, whole)]
    tails = _expand_one(tail, whole)
    if len(choices) * len(tails) > MAX_TASKS:
        raise SweepSpecError(f"{whole!r} expands to more than {MAX_TASKS:,} revisions")
    return [head + c + t for c in choices for t in tails]


def checkpoints(directory: Path) -> list[str]:
    """The checkpoint revisions saved under ``directory/checkpoints/``, by training step, then name."""
    from headdb.jobs.loading import step_of

    root = directory / CHECKPOINTS
    found = [p.name for p in root.iterdir() if p.is_dir() and (p / "config.json").is_file()] if root.is_dir() else []
    if not found:
        raise SweepSpecError(f"{directory} has no checkpoints (subdirectories of {CHECKPOINTS}/ holding a config.json)")
    return sorted(found, key=lambda name: (step_of(name) is None, step_of(name) or 0, name))


def parse_spec(spec: str, *, all_checkpoints: bool = False, name: str | None = None) -> list[SweepTask]:
    """The tasks one spec stands for (see the module's docstring)."""
    spec = spec.strip()
    if not spec:
        raise SweepSpecError("empty sweep spec")
    base, pattern = spec, None
    if not Path(spec).expanduser().is_dir() and "@" in spec:
        base, _, pattern = spec.rpartition("@")
        if not base:
            raise SweepSpecError(f"sweep spec {spec!r} names no model before '@'")
    path = Path(base).expanduser()
    local = path.is_dir()
    source = str(path.resolve()) if local else base
    if pattern is None or pattern == "":
        if all_checkpoints:
            if not local:
                raise SweepSpecError(f"--checkpoints needs a local model directory; {base!r} is not one")
            return [SweepTask(source, rev, name) for rev in checkpoints(path)]
        return [SweepTask(source, "", name)]
    if local and pattern == CHECKPOINTS and not (path / CHECKPOINTS / "config.json").exists():
        return [SweepTask(source, rev, name) for rev in checkpoints(path)]
    revisions: list[str] = []
    for rev in expand(pattern):
        if local and _GLOB.search(rev):
            matched = [c for c in checkpoints(path) if fnmatch.fnmatchcase(c, rev)]
            if not matched:
                raise SweepSpecError(f"no checkpoint of {base} matches {rev!r}")
            revisions.extend(matched)
        else:
            revisions.append(rev)
    return [SweepTask(source, rev, name) for rev in revisions]


def parse_specs(specs: list[str], *, files: list[str] | None = None, all_checkpoints: bool = False,
                name: str | None = None) -> list[SweepTask]:
    """The tasks of every spec and every spec file line, without repeats, in order."""
    lines = list(specs)
    for file in files or []:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SweepSpecError(f"{file} is not a UTF-8 text file of sweep specs") from None
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                lines.append(line)
    if not lines:
        raise SweepSpecError("nothing to sweep: give specs (NAME_OR_PATH[@REVISIONS]) or --file FILE")
    tasks: dict[SweepTask, None] = {}
    for line in lines:
        for task in parse_spec(line, all_checkpoints=all_checkpoints, name=name):
            tasks.setdefault(task)
            if len(tasks) > MAX_TASKS:
                raise SweepSpecError(f"the sweep has more than {MAX_TASKS:,} jobs")
    if name is not None and len({t.source for t in tasks}) > 1:
        raise SweepSpecError("--name stores every job under one name, so the specs must name one model")
    return list(tasks)
