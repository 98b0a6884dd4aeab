"""Exceptions users see, kept free of heavy imports so the CLI can catch them cheaply.

Every error headdb raises for a user to read derives from ``HeadDBError``: the command line prints
its message on one line (no traceback) and exits with its ``exit_code``. Anything else that
escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

# Exit codes of the ``headdb`` command (also listed in ``headdb --help`` and the README).
EXIT_OK = 0
EXIT_ERROR = 1  # the request failed: invalid catalog, unknown name, failed detector, ...
EXIT_USAGE = 2  # bad command-line arguments (argparse uses 2 as well)
EXIT_DATABASE = 3  # the database is unreachable, busy, read-only, full, or its URL is bad
EXIT_FILESYSTEM = 4  # a file or directory could not be read or written (permissions, disk full)
EXIT_INTERRUPTED = 130  # Ctrl+C

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_ERROR: "the request failed (invalid catalog, unknown name, failed detector, ...)",
    EXIT_USAGE: "bad command-line arguments",
    EXIT_DATABASE: "database error: bad URL, server unreachable, database busy, read-only or full",
    EXIT_FILESYSTEM: "a file or directory could not be read or written (permissions, disk full)",
    EXIT_INTERRUPTED: "interrupted",
}


class HeadDBError(Exception):
    """Base of headdb's user-facing errors: the message says what went wrong and what to do."""

    exit_code = EXIT_ERROR


class NotFoundError(HeadDBError, LookupError):
    """Nothing matches: an unknown name, or no results of the kind asked for yet."""


class InvalidArgumentError(HeadDBError, ValueError):
    """An argument is out of range or holds characters it may not (NUL, control characters)."""

    exit_code = EXIT_USAGE


class DatabaseAccessError(HeadDBError):
    """The database cannot be used: bad URL, missing driver, unreachable, busy, read-only, full."""

    exit_code = EXIT_DATABASE


class ModelLoadError(HeadDBError, RuntimeError):
    """A model could not be loaded; the message says what was tried."""


class DetectJobError(HeadDBError, RuntimeError):
    """One or more detectors failed; no scores were written."""
