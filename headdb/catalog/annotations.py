"""Validator problems as GitHub Actions workflow commands, so a pull request's checks annotate
the changed file at the line of the field (``headdb validate --github-annotations``):

    ::error file=papers/2024-x.yaml,line=12,title=claims[0].head::head 99.0 is outside gpt2 ...

The line comes from the problem itself where the reader knew it ("line 4, column 2" for YAML
syntax, "line 7" for a CSV row), else from the position of the field in the file's YAML.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from headdb.catalog.safe_yaml import CatalogFileError, CatalogLoader, decode_utf8, read_catalog_bytes
from headdb.text import escape_controls

_LINE = re.compile(r"^line (\d+)")
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def field_line(path: Path, field: str) -> int | None:
    """The 1-based line where ``field`` (e.g. ``claims[2].head``) sits in the YAML file ``path``,
    or of its nearest enclosing field that exists; None if the file cannot be read."""
    try:
        loader = CatalogLoader(decode_utf8(read_catalog_bytes(path, follow_symlinks=False)))
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except (CatalogFileError, yaml.YAMLError, OSError):
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key, index in _PART.findall(field):
        child = None
        if key and isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == key), None)
            if child is not None:
                line = next(k.start_mark.line + 1 for k, v in node.value if k.value == key)
        elif index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            child = node.value[int(index)]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def github_annotation(file: str, field: str, message: str) -> str:
    """One ``::error`` workflow command for a problem of ``file`` at ``field``."""
    match = _LINE.match(field)
    line = int(match.group(1)) if match else (field_line(Path(file), field) if Path(file).is_file() and field else None)
    props = [f"file={_escape_property(file)}"]
    if line is not None:
        props.append(f"line={line}")
    if field and not match:
        props.append(f"title={_escape_property(field)}")
    return f"::error {','.join(props)}::{_escape_data(escape_controls(message))}"
