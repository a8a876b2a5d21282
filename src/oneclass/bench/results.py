"""The results file: one JSON object per line, appended atomically, readable after any crash.

A line is written with a single `write` of the complete line (newline included), then flushed and fsynced,
so killing the writer (SIGKILL included) leaves either the whole line or none of it. A half-written last
line (a crash inside the kernel, a full disk) is ignored on reading and cut off before the next append.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: fields that identify a cell of the grid; a rerun skips cells whose key is already in the file
KEY_FIELDS = ("method", "dataset", "protocol", "normal_class", "seed", "preset", "overrides")
_REQUIRED = KEY_FIELDS[:5]


def cell_key(row: dict[str, Any]) -> tuple:
    return tuple(json.dumps(row.get(k), sort_keys=True) for k in KEY_FIELDS)


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The valid result lines of `path` (none if it does not exist); incomplete or corrupt lines are skipped."""
    return [row for row, _ in _parse(Path(path))]


def _parse(path: Path) -> Iterator[tuple[dict[str, Any], int]]:
    """(row, end offset) for each complete, valid line."""
    if not path.exists():
        return
    data = path.read_bytes()
    start = 0
    while (end := data.find(b"\n", start)) != -1:
        try:
            row = json.loads(data[start:end])
        except (json.JSONDecodeError, UnicodeDecodeError):
            row = None
        if isinstance(row, dict) and all(k in row for k in _REQUIRED):
            yield row, end + 1
        start = end + 1


class ResultsFile:
    """Append-only JSON-lines file of finished cells, shared safely by several writers (an advisory lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def done_keys(self) -> set[tuple]:
        return {cell_key(row) for row in read_results(self.path)}

    def append(self, row: dict[str, Any]) -> bool:
        """Append `row` unless its cell is already there; returns whether it was written."""
        line = (json.dumps(row, sort_keys=False) + "\n").encode()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size:
                os.lseek(fd, size - 1, os.SEEK_SET)
                if os.read(fd, 1) != b"\n":  # a half-written line from an old crash: cut it off
                    data = self.path.read_bytes()
                    os.ftruncate(fd, data.rfind(b"\n") + 1)
            if cell_key(row) in self.done_keys():
                return False
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            return True
        finally:
            os.close(fd)  # also releases the lock
