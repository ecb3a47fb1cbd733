"""Files a student controls, looked at without ever blocking the grader.

Opening a FIFO for reading waits for a writer that never comes (the grader hangs);
a device or a socket is no submission either. ``find_special_files`` names every
such entry below a folder from ``lstat`` alone (nothing is opened, no link
followed); ``read_regular`` opens with ``O_NONBLOCK | O_NOFOLLOW`` and reads only
when ``fstat`` says the file is a regular one.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def find_special_files(folder: str | os.PathLike) -> list[Path]:
    """FIFOs, sockets and devices at or below folder, sorted (symlinks are not followed)."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            path = Path(root) / name
            mode = os.lstat(path).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                found.append(path)
    return sorted(found)


def read_regular(path: str | os.PathLike, limit: int | None = None) -> bytes:
    """The content of a regular file (at most limit bytes); OSError for anything else."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        return handle.read() if limit is None else handle.read(limit)


__all__ = ["find_special_files", "read_regular"]
