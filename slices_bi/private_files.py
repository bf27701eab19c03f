"""Files and folders that hold the catalog and secrets: readable by their owner only.

The data directory gets mode 0700, the SQLite catalog 0600; SQLite gives its `-wal` and
`-shm` files the mode of the database file, so they are private from their creation.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def make_private_dir(path: Path) -> None:
    """Create `path` (and missing parents) with mode 0700, or narrow it to 0700 when this
    user owns it."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _narrow(path, DIR_MODE)


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///...` URL; None for in-memory databases and other URLs."""
    if not url.startswith("sqlite"):
        return None
    _, _, rest = url.partition(":///")
    rest = rest.split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest)


def make_private_sqlite(url: str) -> None:
    """Create the SQLite database file of `url` with mode 0600 before SQLite does (in a
    folder created 0700), and narrow an existing file and its -wal/-shm to 0600."""
    path = sqlite_path(url)
    if path is None:
        return
    if not path.parent.exists():
        make_private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    for suffix in SQLITE_SUFFIXES:
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            _narrow(candidate, FILE_MODE)


def _narrow(path: Path, mode: int) -> None:
    info = path.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & ~mode:
        path.chmod(mode)
