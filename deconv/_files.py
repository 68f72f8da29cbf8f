"""Atomic, durable file writes and an exclusive lock on a result folder.

A crash, a kill or a power cut never leaves half a file under the final name: the data are
written to a temporary file beside the destination, flushed to disk (``fsync``), renamed over
the destination, and the folder entry is flushed too.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

TEMPORARY_SUFFIX = ".tmp"


def _fsync_file(path: str | os.PathLike) -> None:
    with open(path, "rb+") as stream:
        os.fsync(stream.fileno())


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename); a no-op where folders cannot be opened."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(handle)
    finally:
        os.close(handle)


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(temporary_path)`` on a file beside ``path``, then rename it to ``path``.

    The temporary file lives in the destination folder (so the rename is atomic), is flushed
    to disk before the rename, and gets the existing file's permissions, or 0644 for a new
    file. On any error the temporary file is removed and the destination is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX
    )
    os.close(handle)
    try:
        write(temporary)
        _fsync_file(temporary)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines untranslated) atomically, flushed to disk."""

    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)

    return atomic_write(path, write)


def remove(path: str | os.PathLike) -> bool:
    """Delete ``path`` if it exists (and flush its folder); whether it existed."""
    path = Path(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    _fsync_folder(path.parent)
    return True


def stray_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Temporary files that :func:`atomic_write` left in ``folder`` when it was killed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.name.startswith(".") and p.name.endswith(TEMPORARY_SUFFIX) and p.is_file()
    )


class FolderBusy(RuntimeError):
    """Another process holds the lock of a folder; ``holder`` is what it wrote in the lock."""

    def __init__(self, folder: Path, holder: str) -> None:
        super().__init__(f"{folder} is locked by another process ({holder or 'unknown'})")
        self.folder, self.holder = folder, holder


@contextlib.contextmanager
def exclusive_lock(folder: str | os.PathLike, name: str, note: str) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``folder/name`` for the ``with`` block.

    The lock is taken without waiting: a second process gets :class:`FolderBusy` at once,
    carrying the ``note`` (e.g. pid and settings) that the holder wrote into the lock file.
    The operating system releases the lock when the holder exits, killed or not. Where
    ``fcntl`` is unavailable (Windows) no lock is taken.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 4096, 0).decode("utf-8", "replace").strip()
            raise FolderBusy(folder, holder) from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, note.encode("utf-8"), 0)
        try:
            yield
        finally:
            os.ftruncate(handle, 0)
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        os.close(handle)
