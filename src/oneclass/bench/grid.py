"""The benchmark grid: cells (method × dataset × protocol × normal class × seed), how one cell is run, and
the executors that run many (in this process, a local process pool, or a Ray cluster).

Whatever runs a cell, only the calling process writes result lines, so lines are never interleaved.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from oneclass.bench.harness import harness
from oneclass.bench.results import ResultsFile, cell_key, read_results
from oneclass.checkpoint import Checkpointing
from oneclass.core import Detector, create
from oneclass.data.catalog import load_dataset
from oneclass.data.protocols import Split, make_split
from oneclass.errors import OneClassError
from oneclass.evaluation import evaluate
from oneclass.registry import detector_class
from oneclass.settings import resolve


@dataclass(frozen=True)
class Cell:
    """One training + evaluation. `overrides` are hyper-parameters set on the command line (on top of the preset).

    `track_epochs` also records the test AUROC after every epoch (every method that trains in epochs); it does
    not change training, so it is not part of the result key (the cell's fit time then includes that scoring).
    """

    method: str
    dataset: str
    protocol: str
    normal_class: int
    seed: int
    preset: str = "paper"
    overrides: dict[str, Any] = field(default_factory=dict, hash=False)
    track_epochs: bool = False

    def key(self) -> tuple:
        """The cell's identity in a results file: (method, dataset, protocol, class, seed, preset, overrides)."""
        return cell_key(asdict(self))

    def settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(hyper-parameters, protocol options) from the method's preset, the method's `benchmark_settings` and the
        overrides. So the detector trains on the protocol's whole training split (`calibration=0` unless overridden),
        as the papers do; its decision threshold then comes from the validation normals, if the protocol has some,
        else the training images."""
        settings = {**harness(self.method).benchmark_settings, **self.overrides}
        return resolve(self.method, self.preset, settings, self.seed, self.protocol)


#: the largest number of classes a data set may have (Caltech-256 has 257): bounds --classes before it is expanded
MAX_CLASSES = 1000


def parse_classes(text: str) -> list[int]:
    """'0-9', '0,2,5' or '1-3,7' → sorted list of class indices."""
    classes: set[int] = set()
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi if dash else lo)
        except ValueError:
            raise OneClassError(f"--classes {text!r}: expected e.g. 0-9 or 0,2,5") from None
        if last < first:
            raise OneClassError(f"--classes {text!r}: the range {part.strip()} runs backwards; write {last}-{first}")
        if first < 0 or last >= MAX_CLASSES:
            raise OneClassError(f"--classes {text[:40]!r}: class numbers run from 0 to {MAX_CLASSES - 1} at most")
        classes.update(range(first, last + 1))
    return sorted(classes)


def make_cells(methods: Iterable[str], dataset: str, protocol: str, classes: Iterable[int], seeds: Iterable[int],
               preset: str = "paper", overrides: dict[str, Any] | None = None, track_epochs: bool = False) -> list[Cell]:
    """One `Cell` per method × normal class × seed, each checked (`settings.resolve`) before anything runs."""
    cells = [Cell(m, dataset, protocol, c, s, preset, dict(overrides or {}), track_epochs)
             for m in methods for c in classes for s in seeds]
    for m in dict.fromkeys(methods):  # fail before any training if a hyper-parameter is unknown
        Cell(m, dataset, protocol, 0, 0, preset, dict(overrides or {})).settings()
    return cells


def resume_plan(cells: list[Cell], path: str | Path) -> tuple[int, list[tuple[Cell, str]]]:
    """How a grid resumes from its results file: how many of `cells` are done already, and which of those were
    made with other hyper-parameters than they get now (kept, not run again; see `changed_settings`)."""
    finished = read_results(path)
    return len({cell_key(row) for row in finished} & {c.key() for c in cells}), changed_settings(cells, finished)


def changed_settings(cells: list[Cell], rows: Iterable[dict[str, Any]]) -> list[tuple[Cell, str]]:
    """The cells whose line in `rows` was made with other hyper-parameters than the cell gets today (a default
    changed since): each with the first difference, e.g. "mask_gradient 'eq2', now 'straight-through'". Only
    hyper-parameters both know are compared (one added since cannot differ in effect), and not those left to `fit`
    (None, e.g. `input_shape`)."""
    recorded = {cell_key(row): row.get("params", {}) for row in rows}
    out = []
    for cell in cells:
        if cell.key() not in recorded:
            continue
        cls = detector_class(cell.method)
        now = json.loads(json.dumps({**cls.param_defaults(), **cell.settings()[0]}))  # tuples as JSON lists
        then = recorded[cell.key()]
        diff = [k for k in now if k in then and now[k] is not None and then[k] != now[k]]  # None: set by fit
        if diff:
            out.append((cell, f"{diff[0]} {then[diff[0]]!r}, now {now[diff[0]]!r}"))
    return out


# ------------------------------------------------------------------------------------------- one cell


@functools.lru_cache(maxsize=4)
def _dataset(name: str, root: str | None) -> dict[str, np.ndarray]:
    return load_dataset(name, root, download=False)


def prepare(cell: Cell, data_root: str | None = None) -> tuple[Detector, Split]:
    """The detector a cell trains (unfitted, with the cell's preset, overrides and benchmark settings) and the split
    of the data it trains and is tested on: what `run_cell` and the benchmark scripts start from.

    Examples
    --------
    >>> det, split = prepare(make_cells(["ae"], "fashion-mnist-mini", "one-vs-rest", [0], [0], "fast", {})[0])
    >>> det.calibration, len(split.x_train)
    (0.0, 250)
    """
    params, split_options = cell.settings()
    split = make_split(cell.protocol, _dataset(cell.dataset, data_root), cell.normal_class, seed=cell.seed,
                       **split_options)
    return create(cell.method, **params), split


def run_cell(cell: Cell, data_root: str | None = None, checkpoints: Path | None = None) -> dict[str, Any]:
    """Train and evaluate one cell; returns its result line (a JSON-able dict). With `checkpoints` (a folder), the
    cell's training writes epoch checkpoints under it and resumes from them if the cell ran before and was
    stopped (not with `track_epochs`, whose per-epoch records would have a gap)."""
    det, split = prepare(cell, data_root)
    folder = checkpoint_dir(checkpoints, cell) if checkpoints is not None and not cell.track_epochs else None
    result = evaluate(det, split, dataset=cell.dataset, normal_class=cell.normal_class, preset=cell.preset,
                      overrides=cell.overrides, track_epochs=cell.track_epochs,
                      callbacks=() if folder is None else (Checkpointing(folder),))
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    return result.line()


def checkpoint_dir(checkpoints: Path, cell: Cell) -> Path:
    """The folder of one cell's epoch checkpoints: named by a digest of its key."""
    return Path(checkpoints) / hashlib.sha256(repr(cell.key()).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------- executors


def threads_per_worker(workers: int) -> int:
    """The torch threads each of `workers` parallel cells gets: the machine's cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run_cell_pinned(cell: Cell, data_root: str | None, threads: int, checkpoints: Path | None) -> dict[str, Any]:
    _init_worker(threads)
    return run_cell(cell, data_root, checkpoints)


def run_grid(cells: list[Cell], out: ResultsFile, data_root: str | None = None, workers: int = 1,
             executor: str = "local", address: str | None = None,
             on_done: Callable[[Cell, dict[str, Any] | None, BaseException | None], None] | None = None) -> int:
    """Run the cells not yet in `out`, appending one line per finished cell. Returns the number of failures.

    executor "local" runs in this process when workers == 1, else in a pool of `workers` processes, each
    pinned to cpu_count / workers threads; "ray" sends cells to a Ray cluster (`address`, or a local one).
    `on_done(cell, row, error)` is called after each cell (for progress bars). Training writes epoch checkpoints
    in `<out>.checkpoints/`, so a cell that was killed resumes from its last finished epoch when the grid is rerun.
    """
    done = out.done_keys()
    todo = [c for c in cells if c.key() not in done]
    failures = 0
    checkpoints = out.path.with_name(out.path.name + ".checkpoints")

    def finish(cell: Cell, row: dict[str, Any] | None, error: BaseException | None) -> None:
        nonlocal failures
        if row is not None:
            out.append(row)
        failures += error is not None
        if on_done:
            on_done(cell, row, error)

    threads = threads_per_worker(workers)
    if executor == "ray":
        _run_ray(todo, data_root, threads, address, checkpoints, finish)
    elif workers <= 1:
        for cell in todo:
            try:
                row = run_cell(cell, data_root, checkpoints)
            except OneClassError:
                raise
            except Exception as exc:  # a failed cell must not stop the grid; it is reported and rerun next time
                finish(cell, None, exc)
                continue
            finish(cell, row, None)
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                                 initargs=(threads,)) as pool:
            futures = {pool.submit(run_cell, cell, data_root, checkpoints): cell for cell in todo}
            for fut in as_completed(futures):
                exc = fut.exception()
                finish(futures[fut], None if exc else fut.result(), exc)
    with contextlib.suppress(OSError):  # gone, or holding the checkpoints of cells that failed
        checkpoints.rmdir()
    return failures


def _run_ray(cells: list[Cell], data_root: str | None, threads: int, address: str | None, checkpoints: Path,
             finish) -> None:
    try:
        import ray
    except ImportError:
        raise OneClassError("--executor ray needs Ray: pip install -e '.[ray]' in the clone") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    remote = ray.remote(num_cpus=threads)(_run_cell_pinned)
    pending = {remote.remote(cell, data_root, threads, checkpoints): cell for cell in cells}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        cell = pending.pop(ready[0])
        try:
            finish(cell, ray.get(ready[0]), None)
        except Exception as exc:
            finish(cell, None, exc)
