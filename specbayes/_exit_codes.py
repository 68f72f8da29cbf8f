"""How a failed ``specbayes`` command ends: one line on stderr and a documented exit code.

A usage mistake (a bad option, value or input file) is exit 2 with the validation message; a
result that could not be written (disk full, quota, read-only file system, no permission in
the output folder, whichever library noticed it) is exit 4 naming the path; anything else is
an internal error, exit 3, in one line (the traceback too with ``SPECBAYES_DEBUG=1``).
"""

from __future__ import annotations

import errno
import os
import re
import sys
import traceback
from pathlib import Path

from deconv.exceptions import ReadError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_WRITE = 0, 1, 2, 3, 4
EXIT_CODES = {
    EXIT_OK: "done (batch: every spectrum fitted)",
    EXIT_FAILED: "batch: some spectra failed (see failures.csv)",
    EXIT_USAGE: "usage mistake: a bad option, value or input file (one line, no traceback)",
    EXIT_INTERNAL: "internal error (one line; SPECBAYES_DEBUG=1 adds the traceback); please "
    "report it",
    EXIT_WRITE: "could not write results (disk full, quota, read-only file system, permission)",
}
DEBUG_VARIABLE = "SPECBAYES_DEBUG"
INTERNAL_MESSAGE_LIMIT = 300  # characters of an internal error's message on its one line


# errno values that only a write can cause, and those a write or a read can
_WRITE_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EROFS", "EFBIG") if hasattr(errno, name)
)
_PERMISSION_ERRNOS = frozenset((errno.EACCES, errno.EPERM))
_NO_SPACE = re.compile(
    r"no space left|disk quota exceeded|read-only file system|errno\s*=\s*(\d+)", re.IGNORECASE
)


def _errno_of(error: BaseException) -> int | None:
    """The errno of an OSError, or one that an HDF5 / netCDF message reports."""
    if isinstance(error, OSError) and error.errno is not None:
        return error.errno
    match = _NO_SPACE.search(str(error))
    if match is None:
        return None
    if match.group(1) is not None:
        return int(match.group(1))
    return errno.ENOSPC if "space" in match.group(0).lower() else errno.EROFS


def _inside(path: str | os.PathLike, folder: Path) -> bool:
    try:
        return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))
    except (TypeError, ValueError):
        return False


def _write_failure_of(
    error: OSError | RuntimeError, out: Path | None
) -> tuple[str | None, str] | None:
    """:func:`_write_failure` of one exception, not those it was raised from."""
    number = _errno_of(error)
    path = getattr(error, "filename", None)
    path = None if path is None else os.fsdecode(path)
    reason = getattr(error, "strerror", None) or (
        os.strerror(number) if number is not None else str(error)
    )
    if number in _WRITE_ERRNOS:
        return path, reason
    if number in _PERMISSION_ERRNOS:
        unreadable_input = (
            path is not None and os.path.exists(path) and not os.access(path, os.R_OK)
        )
        if not unreadable_input and (path is None or (out is not None and _inside(path, out))):
            return path, reason
    return None


def _write_failure(error: BaseException, out: Path | None) -> tuple[str | None, str] | None:
    """``(path or None, reason)`` when ``error`` (or an error it was raised from) means the
    results could not be written; None otherwise.

    Disk full, quota exceeded, file too large and read-only file system are write failures
    wherever they arise; a permission error is one when it concerns the output folder (or an
    unknown file) and not an existing file that cannot be read (an input).
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        written = (
            _write_failure_of(error, out) if isinstance(error, OSError | RuntimeError) else None
        )
        if written is not None:
            return written
        error = error.__cause__ or error.__context__
    return None


def report_failure(error: Exception, command: str, out: Path | None) -> int:
    """Print the one line for ``error`` of ``command`` (writing into ``out``) and return the
    exit code (see :data:`EXIT_CODES`)."""
    written = _write_failure(error, out)
    if written is not None:
        path, reason = written
        reason = " ".join(str(reason).split())  # the HDF5 library's messages span lines
        where = f" to {path}" if path else ("" if out is None else f" under {out}")
        print(
            f"specbayes {command}: error: could not write results{where}: {reason}",
            file=sys.stderr,
        )
        return EXIT_WRITE
    if isinstance(error, ValueError | TypeError | KeyError | OSError | ReadError):
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"specbayes {command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    message = " ".join(str(error).split())  # one line, however long the original
    if len(message) > INTERNAL_MESSAGE_LIMIT:
        message = message[: INTERNAL_MESSAGE_LIMIT - 3] + "..."
    print(
        f"specbayes: internal error ({type(error).__name__}: {message}); please report it",
        file=sys.stderr,
    )
    if os.environ.get(DEBUG_VARIABLE, "").strip().lower() in ("1", "true", "yes"):
        traceback.print_exception(error, file=sys.stderr)
    return EXIT_INTERNAL
