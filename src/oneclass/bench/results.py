"""The results file: one JSON object per line, appended atomically, readable after any crash.

A line is written with a single `write` of the complete line (newline included), then flushed and fsynced,
so killing the writer (SIGKILL included) leaves either the whole line or none of it. A half-written last
line (a crash inside the kernel, a full disk) is ignored on reading and cut off before the next append.
A line that names a cell but lacks or mistypes what the report reads is not a finished cell: `set_aside_bad_lines`
moves such lines to `<file>.rejected` so that their cells run again.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oneclass.errors import OneClassError
from oneclass.files import check_writable_dir, write_atomic

#: fields that identify a cell of the grid; a rerun skips cells whose key is already in the file
KEY_FIELDS = ("method", "dataset", "protocol", "normal_class", "seed", "preset", "overrides")
_REQUIRED = KEY_FIELDS[:5]


def cell_key(row: dict[str, Any]) -> tuple:
    """The key of the cell a result line belongs to (as `Cell.key`)."""
    return tuple(json.dumps(row.get(k), sort_keys=True) for k in KEY_FIELDS)


def _number(v: Any, low: float = -math.inf, high: float = math.inf) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and low <= v <= high


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _numbers(v: Any) -> bool:
    return isinstance(v, list) and all(_number(x) for x in v)


def _rates(v: Any) -> bool:
    return isinstance(v, dict) and len(v) > 0 and all(isinstance(k, str) and _number(x, 0, 1) for k, x in v.items())


#: what a finished cell's line must hold for the grid to skip it and the report to read it
_FIELD_CHECKS = {
    "method": lambda v: isinstance(v, str), "dataset": lambda v: isinstance(v, str),
    "protocol": lambda v: isinstance(v, str), "normal_class": _int, "seed": _int,
    "preset": lambda v: isinstance(v, str), "overrides": lambda v: isinstance(v, dict),
    "auroc": _rates, "eer": _rates, "f1": _rates, "default_score": lambda v: isinstance(v, str),
    "n_train": _int, "n_test": _int, "fit_seconds": lambda v: _number(v, 0), "score_seconds": lambda v: _number(v, 0),
    "epochs": lambda v: v is None or _int(v), "selection": lambda v: isinstance(v, str),
    "params": lambda v: isinstance(v, dict), "version": lambda v: isinstance(v, str),
    "curves": lambda v: isinstance(v, dict) and all(_numbers(v.get(k)) for k in
                                                   ("roc_tpr", "hist_edges", "hist_normal", "hist_anomalous")),
}


def row_problem(row: dict[str, Any]) -> str | None:
    """Why a result line cannot stand for a finished cell (its first missing or mistyped field), or None."""
    for name, ok in _FIELD_CHECKS.items():
        if name not in row:
            return f"no {name!r}"
        if not ok(row[name]):
            return f"{name!r} is {json.dumps(row[name])[:60]}"
    if row["default_score"] not in row["auroc"]:
        return f"default score {row['default_score']!r} has no AUROC"
    return None


@dataclass
class Scan:
    """A results file read line by line: usable rows, lines that name a cell but are broken, and the numbers of
    lines that are not result lines at all. A half-written last line counts as none of them."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: list[tuple[bytes, str]] = field(default_factory=list)
    foreign_lines: list[int] = field(default_factory=list)
    good_lines: list[bytes] = field(default_factory=list)


def scan_results(path: str | Path) -> Scan:
    """The result lines of a file and how many lines were left out (broken or not results)."""
    scan = Scan()
    path = Path(path)
    if not path.is_file():
        return scan
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OneClassError(f"{path}: cannot read ({exc.strerror or exc})") from None
    for number, line in enumerate(data.split(b"\n")[:-1], 1):  # the last piece has no newline: never complete
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            row = None
        if not (isinstance(row, dict) and all(k in row for k in _REQUIRED)):
            if line.strip():
                scan.foreign_lines.append(number)
            continue
        problem = row_problem(row)
        if problem is None:
            scan.rows.append(row)
            scan.good_lines.append(line + b"\n")
        else:
            scan.bad_lines.append((line + b"\n", problem))
    return scan


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The usable result lines of `path` (none if it does not exist)."""
    return scan_results(path).rows


class ResultsFile:
    """Append-only JSON-lines file of finished cells, shared safely by several writers (an advisory lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def rejected_path(self) -> Path:
        """Where lines that name a cell but lack or mistype its metrics are moved."""
        return self.path.with_name(self.path.name + ".rejected")

    def check(self) -> int:
        """Before a grid runs: refuse a path that is a folder, cannot be written or holds something other than
        result lines (left untouched); move lines that name a cell but are broken to `rejected_path` (appended,
        so nothing is lost) and return how many, so that those cells run again."""
        if self.path.is_dir():
            raise OneClassError(f"--out {self.path}: is a folder; give a results file, e.g. {self.path / 'results.jsonl'}")
        check_writable_dir(self.path.parent, "--out")
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise OneClassError(f"--out {self.path}: the file is not writable")
        if not self.path.exists():
            return 0
        with self._locked():
            scan = scan_results(self.path)
            if scan.foreign_lines:
                raise OneClassError(f"--out {self.path}: not a results file of `oneclass bench` (line "
                                    f"{scan.foreign_lines[0]} is not a result line); the file is left as it is: "
                                    "choose another --out")
            if scan.bad_lines:
                with open(self.rejected_path, "ab") as f:
                    f.write(b"".join(line for line, _ in scan.bad_lines))
                write_atomic(self.path, b"".join(scan.good_lines))
        return len(scan.bad_lines)

    def done_keys(self) -> set[tuple]:
        """The keys of the cells already in the file."""
        return {cell_key(row) for row in read_results(self.path)}

    def append(self, row: dict[str, Any]) -> bool:
        """Append `row` unless its cell is already there; returns whether it was written."""
        line = (json.dumps(row, sort_keys=False) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked() as fd:
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

    @contextmanager
    def _locked(self) -> Iterator[int]:
        """The file opened for appending under an exclusive advisory lock, released when it is closed."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)
