"""Reading catalog files safely: every paper entry, the taxonomy and the model registry go through
``load_catalog_file``.

Catalog files come from contributors, so a file must not be able to exhaust memory or time, reach
outside the catalog, or hide a mistake:

- only regular files are read (no directories, FIFOs or devices), symbolic links only where the
  caller allows them, and at most ``MAX_FILE_BYTES`` of them;
- the YAML subset is plain data: no aliases (so no "billion laughs" expansion), no merge keys, no
  tags beyond strings, numbers, booleans, null, dates, lists and mappings;
- duplicate keys are errors (YAML would silently keep the last one);
- nesting depth and the number of nodes are bounded;
- an impossible date such as an unquoted 2024-02-30 stays a string, for the schema to report.

Every failure is a ``CatalogFileError`` with a short message and, where known, the line.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.composer import ComposerError

from headdb.text import brief, truncate

MAX_FILE_BYTES = 1 << 20  # 1 MiB: the largest real entry is about 3 KiB, the taxonomy 40 KiB
MAX_DEPTH = 32  # entries nest 4 levels deep (entry > claims > claim > value)
MAX_NODES = 50_000  # the taxonomy, the largest file, has about 1,500
MAX_MESSAGE = 200

_TAG = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(_TAG + t for t in ("null", "bool", "int", "float", "str", "seq", "map", "timestamp"))


class CatalogFileError(Exception):
    """A catalog file could not be read or parsed. ``where`` is "line L, column C" or ""."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where


def _file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
        stat.S_ISLNK: "a symbolic link",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def _too_large(size: int, exact: bool) -> CatalogFileError:
    return CatalogFileError(
        f"file is too large ({size:,} bytes{'' if exact else ' or more'}); catalog files are "
        f"limited to {MAX_FILE_BYTES // (1 << 20)} MiB ({MAX_FILE_BYTES:,} bytes)"
    )


def read_catalog_bytes(path: Path, follow_symlinks: bool = True) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``MAX_FILE_BYTES``.

    The file is opened first and checked through its descriptor, so it cannot be swapped for a
    link or a device between the check and the read; O_NONBLOCK keeps a FIFO from blocking the
    open, and without ``follow_symlinks`` a symbolic link is refused rather than followed."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)  # discovery has refused links already where absent
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise CatalogFileError("file not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise CatalogFileError("is a symbolic link; catalog files must be regular files (links are not followed)") from None
        raise CatalogFileError(f"cannot read file: {exc.strerror or type(exc).__name__}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CatalogFileError(f"not a regular file ({_file_kind(info.st_mode)}); catalog files must be regular files")
        if info.st_size > MAX_FILE_BYTES:
            raise _too_large(info.st_size, exact=True)
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE_BYTES:  # the file grew after fstat
            raise _too_large(size, exact=False)
        return b"".join(chunks)
    except OSError as exc:
        raise CatalogFileError(f"cannot read file: {exc.strerror or type(exc).__name__}") from None
    finally:
        os.close(fd)


def decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogFileError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} cannot be decoded"
        ) from None


class CatalogLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` restricted to plain data, with bounded depth and size."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise ComposerError(
                None, None,
                "YAML aliases (*name) are not allowed in catalog files; write the value out",
                event.start_mark,
            )
        self._depth += 1
        self._nodes += 1
        if self._depth > MAX_DEPTH:
            raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        if self._nodes > MAX_NODES:
            raise ComposerError(None, None, f"more than {MAX_NODES:,} YAML nodes in one file", event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if node.tag not in ALLOWED_TAGS:
            tag = node.tag.removeprefix(_TAG)
            raise ConstructorError(
                None, None,
                f"the tag {brief(tag, 40)} is not allowed in catalog files (plain data only)",
                node.start_mark,
            )
        return super().construct_object(node, deep=deep)

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        # Replaces SafeConstructor's: no merge keys (`<<`), and a repeated key is an error
        # instead of silently overriding the earlier value.
        if not isinstance(node, yaml.MappingNode):
            raise ConstructorError(None, None, f"expected a mapping, found {node.id}", node.start_mark)
        mapping: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                raise ConstructorError(None, None, "merge keys (<<) are not allowed in catalog files", key_node.start_mark)
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise ConstructorError(None, None, "a mapping key must be a plain value", key_node.start_mark) from None
            if key in mapping:
                raise ConstructorError(
                    None, None,
                    f"duplicate key {brief(key, 40)} (first at line {first_line[key]})",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line + 1
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # Python refuses to parse integers of more than 4,300 digits
            raise ConstructorError(None, None, "integer with too many digits", node.start_mark) from None

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        # An impossible date (2024-02-30) stays a string; the schema then reports the field.
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            return self.construct_scalar(node)


CatalogLoader.add_constructor(_TAG + "int", CatalogLoader.construct_yaml_int)
CatalogLoader.add_constructor(_TAG + "timestamp", CatalogLoader.construct_yaml_timestamp)


def _mark(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def load_yaml(text: str) -> Any:
    """Parse one catalog document with ``CatalogLoader``; raise ``CatalogFileError`` if invalid."""
    loader = CatalogLoader(text)
    try:
        return loader.get_single_data()
    except yaml.reader.ReaderError as exc:
        character = f"#x{exc.character:04x}" if isinstance(exc.character, int) else brief(exc.character, 10)
        raise CatalogFileError(f"not valid YAML: unacceptable character {character} at offset {exc.position}") from None
    except yaml.MarkedYAMLError as exc:
        problem = truncate(str(exc.problem or exc.context or "malformed"), MAX_MESSAGE)
        raise CatalogFileError(f"not valid YAML: {problem}", _mark(exc)) from None
    except yaml.YAMLError as exc:
        raise CatalogFileError(f"not valid YAML: {truncate(str(exc), MAX_MESSAGE)}") from None
    finally:
        loader.dispose()


def load_catalog_file(path: Path | str, follow_symlinks: bool = True) -> Any:
    """Read and parse one catalog file: the YAML data, or ``CatalogFileError`` saying why not."""
    return load_yaml(decode_utf8(read_catalog_bytes(Path(path), follow_symlinks)))
