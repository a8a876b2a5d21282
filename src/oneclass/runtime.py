"""Where and how tensors are computed: the device (`resolve_device`), the precision (bf16 autocast where the device
computes it natively), the memory layout, deterministic kernels, progress bars, and `map_batches`, which runs a
function over images batch by batch on the device."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from oneclass.errors import InputError

#: numeric precision of training: "auto" = bf16 where the device computes it natively, else fp32
PRECISIONS = ("auto", "fp32", "bf16")


def bf16_native(device: torch.device) -> bool:
    """Whether `device` computes bf16 natively: a CUDA GPU with bf16, or a CPU with AVX512-BF16 or AMX-BF16."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    flags = cpu_flags()
    if flags is None:  # not Linux: oneDNN's own check
        check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        return bool(check and check())
    return bool({"avx512_bf16", "amx_bf16"} & flags)


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (Linux), or None where there is no such file."""
    try:
        return frozenset(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return None


def compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype autocast computes in for `precision` on `device` (fp32 means no autocast)."""
    if precision == "auto":
        return torch.bfloat16 if bf16_native(device) else torch.float32
    return torch.bfloat16 if precision == "bf16" else torch.float32


@contextlib.contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """On CUDA, PyTorch's deterministic kernels for the length of a fit (cuDNN's, cuBLAS's fixed workspace), so that a
    seed fixes the trained model there as it does on the CPU; the caller's settings come back afterwards. An
    operation without a deterministic kernel warns rather than fails. Elsewhere nothing changes."""
    if device.type != "cuda":
        yield
        return
    saved = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[:2]
        torch.use_deterministic_algorithms(saved[2], warn_only=saved[3])


def autocast(device: torch.device, dtype: torch.dtype):
    """bf16 autocast on `device` when `dtype` is bf16, else a context that changes nothing. Weights, optimiser
    state and the ops autocast keeps in fp32 (losses, reductions, normalisation statistics) stay fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)


def _as_output(t: torch.Tensor) -> torch.Tensor:
    """A result tensor on the CPU, bf16/fp16 widened to fp32 (NumPy has no bf16); fp64 scores stay fp64."""
    t = t.detach().cpu()
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


#: the memory layout of image batches and conv weights: channels-last, faster for most methods on the CPU measured
#: (not for ADA in fp32, nor ALOCC and G2D in bf16; docs/results.md); `memory_layout` changes it for a block of code
_LAYOUT = [torch.channels_last]


@contextlib.contextmanager
def memory_layout(layout: torch.memory_format) -> Iterator[None]:
    """Train and score with `layout` (e.g. `torch.contiguous_format`) inside the block (`make bench-speed`
    compares the two)."""
    _LAYOUT.append(layout)
    try:
        yield
    finally:
        _LAYOUT.pop()


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move an image batch to `device` in the current memory layout (`memory_layout`)."""
    return x.to(device, non_blocking=True).contiguous(memory_format=_LAYOUT[-1])


def module_to_device(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move a network to `device` in the current memory layout (`memory_layout`)."""
    return module.to(device, memory_format=_LAYOUT[-1])


def progress(iterable, desc: str, total: int | None = None, leave: bool = False, initial: int = 0):
    """A tqdm bar on stderr, shown where stderr is a terminal, in a Jupyter notebook, or with ONECLASS_PROGRESS=1.
    (Commands run off a terminal log a line per epoch instead: `training.EpochLines`.)"""
    show = os.environ.get("ONECLASS_PROGRESS", "") == "1" or sys.stderr.isatty() or "ipykernel" in sys.modules
    return tqdm(iterable, desc=desc, total=total, leave=leave, disable=not show, dynamic_ncols=True, initial=initial)


@torch.no_grad()
def map_batches(fn: Callable[[torch.Tensor], torch.Tensor | dict[str, torch.Tensor]], x: torch.Tensor,
                device: torch.device, batch_size: int = 512) -> torch.Tensor | dict[str, np.ndarray]:
    """Apply `fn` to `x` batch by batch on `device`; concatenate tensor results (or dicts of them) on the CPU."""
    outs = [fn(to_device(x[i:i + batch_size], device)) for i in range(0, len(x), batch_size)]
    if isinstance(outs[0], dict):
        return {k: torch.cat([_as_output(o[k]) for o in outs]).numpy() for k in outs[0]}
    return torch.cat([_as_output(o) for o in outs])


def resolve_device(name: str) -> torch.device:
    """The torch device `name` means: "auto" is the machine's accelerator where it has one (`torch.accelerator`: a
    CUDA or ROCm GPU, Apple's MPS, ...), else the CPU; a named device this machine lacks is refused in one line."""
    if name == "auto":
        accelerator = torch.accelerator.current_accelerator(check_available=True)
        return torch.device(accelerator.type) if accelerator is not None else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise InputError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                         "visible to PyTorch; use --device cpu or auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {name!r}: MPS is not available here; use --device cpu or auto")
    return device


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """torch's and NumPy's global random streams seeded with `seed` inside, and as they were again afterwards."""
    numpy_state = np.random.get_state()
    accelerator = device.type if device.type != "cpu" else None
    with torch.random.fork_rng(devices=[] if accelerator is None else [device.index or 0],
                               device_type=accelerator or "cuda"):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
