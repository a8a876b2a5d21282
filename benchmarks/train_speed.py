"""Training throughput of every torch method, in fp32 and bf16 (and both memory layouts), against the machine's
measured matmul peak in the same precision.

For each method (its `fast` preset, no validation), images/s of the real training loop (`Detector.fit` on
in-memory 28×28 images, after a warm-up fit), the FLOPs one training image costs (forward + backward of every
network the method updates, counted by PyTorch's FlopCounterMode over a whole small fit), the achieved GFLOP/s,
and that as a fraction of a 2048×2048 matmul's rate in the same precision, measured in the same run. One JSON
line per (method, precision, layout) is appended to --out.

    python benchmarks/train_speed.py [--methods ae,adacl] [--images 2048] [--compile] [--out results/speed.jsonl]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import oneclass
from oneclass import runtime
from oneclass.bench.harness import harness
from oneclass.bench.provenance import git_commit

#: per method: settings on top of the fast preset (two passes over the data where the method allows it) and how
#: many times the loop sees each training image (G2D: two GAN epochs, then one detector epoch over the normal and
#: as many generated images)
RUNS = {
    "ae": ({"epochs": 2}, 2), "cae": ({"epochs": 2}, 2), "vae": ({"epochs": 2}, 2),
    "dsvdd": ({"ae_epochs": 1, "epochs": 1}, 2), "adacl": ({"epochs": 2, "val_size": 0}, 2),
    "oled": ({"epochs": 2, "val_size": 0}, 2), "alocc": ({"epochs": 2}, 2),
    "g2d": ({"epochs": 2, "h": 1, "detector_epochs": 1}, 4), "ada": ({"epochs": 2}, 2),
}
LAYOUTS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


def matmul_gflops(device: torch.device, dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def make(method: str, precision: str, device: str) -> oneclass.Detector:
    settings, _ = RUNS[method]
    return oneclass.create(method, **{**harness(method).presets.get("fast", {}), **settings},
                           precision=precision, device=device)


def flops_per_image(method: str, device: str, n: int = 256) -> float:
    x = np.random.default_rng(1).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    with FlopCounterMode(display=False) as counter:
        make(method, "fp32", device).fit(x)
    return counter.get_total_flops() / (n * RUNS[method][1])


def compiled_runs(args: argparse.Namespace, x: np.ndarray, cpu: str, device: torch.device) -> list[dict]:
    """Each method with `torch.compile` on its update step: the first fit pays for compiling (fresh networks and
    optimisers recompile in every fit, as every cell of a sweep does), the second shows the compiled speed."""
    lines = []
    for method in args.methods.split(","):
        for precision in args.precisions.split(","):
            seconds = []
            for _ in range(2):
                det = make(method, precision, args.device)
                t = time.perf_counter()
                det.fit(x, compile=True)
                seconds.append(time.perf_counter() - t)
            images_per_s = args.images * RUNS[method][1] / seconds[1]
            lines.append({"method": method, "precision": precision, "layout": "channels_last", "compiled": True,
                          "images_per_s": round(images_per_s, 1), "first_fit_seconds": round(seconds[0], 2),
                          "fit_seconds": round(seconds[1], 2), "images": args.images, "passes": RUNS[method][1],
                          "device": str(device), "threads": torch.get_num_threads(), "cpu": cpu,
                          "torch": torch.__version__, "version": oneclass.__version__, "commit": git_commit()})
            print(f"{method:6s} {precision} compiled      {images_per_s:8.0f} images/s  first fit {seconds[0]:.1f} s "
                  f"(compiling), then {seconds[1]:.1f} s", flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(RUNS), help="comma-separated (default: all torch methods)")
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--layouts", default="channels_last,contiguous")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true",
                        help="instead, train with torch.compile on the update step (channels-last): the first fit "
                             "(compilation included) and a second one, to compare with the eager lines")
    parser.add_argument("--out", default="results/speed.jsonl", help="JSON lines are appended here")
    args = parser.parse_args()

    device = oneclass.create("ae", device=args.device).torch_device
    peaks = {p: matmul_gflops(device, torch.float32 if p == "fp32" else torch.bfloat16)
             for p in args.precisions.split(",")}
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    print(f"device {device} ({torch.get_num_threads()} threads, {cpu}); bf16 native: {runtime.bf16_native(device)}")
    print("matmul peak (2048×2048): " + ", ".join(f"{p} {g:.1f} GFLOP/s" for p, g in peaks.items()))
    x = np.random.default_rng(0).integers(0, 256, (args.images, 28, 28), dtype=np.uint8)
    lines = compiled_runs(args, x, cpu, device) if args.compile else eager_runs(args, x, peaks, cpu, device)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    print(f"appended {len(lines)} lines to {args.out}")


def eager_runs(args: argparse.Namespace, x: np.ndarray, peaks: dict, cpu: str, device: torch.device) -> list[dict]:
    lines = []
    for method in args.methods.split(","):
        flops = flops_per_image(method, args.device)
        for layout in args.layouts.split(","):
            for precision in args.precisions.split(","):
                with runtime.memory_layout(LAYOUTS[layout]):
                    make(method, precision, args.device).fit(x[:256])  # warm-up: kernels, allocator
                    det = make(method, precision, args.device)
                    t = time.perf_counter()
                    det.fit(x)
                    seconds = time.perf_counter() - t
                images_per_s = args.images * RUNS[method][1] / seconds
                achieved = images_per_s * flops / 1e9
                line = {"method": method, "precision": precision, "layout": layout, "compiled": False,
                        "images_per_s": round(images_per_s, 1),
                        "mflop_per_image": round(flops / 1e6, 2), "gflops": round(achieved, 2),
                        "peak_gflops": round(peaks[precision], 1), "fraction_of_peak": round(achieved / peaks[precision], 4),
                        "fit_seconds": round(seconds, 2), "images": args.images, "passes": RUNS[method][1],
                        "device": str(device), "threads": torch.get_num_threads(), "cpu": cpu,
                        "torch": torch.__version__, "version": oneclass.__version__, "commit": git_commit()}
                lines.append(line)
                print(f"{method:6s} {precision} {layout:13s} {images_per_s:8.0f} images/s  {flops / 1e6:7.1f} MFLOP/image  "
                      f"{achieved:6.1f} GFLOP/s = {achieved / peaks[precision]:6.1%} of the {precision} matmul peak", flush=True)
    return lines


if __name__ == "__main__":
    main()
