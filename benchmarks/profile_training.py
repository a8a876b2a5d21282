"""Where a method's training time goes, in fp32 and in bf16: PyTorch's profiler over one fit (the method's `fast`
preset settings of `train_speed.py`, random 28×28 images, after a warm-up fit), operators grouped by name and
sorted by their own CPU time. Used to find out why bf16 does not speed some methods up (issue 24).

    python benchmarks/profile_training.py --methods alocc,g2d [--images 2048] [--rows 12] > results/profile-bf16.txt
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile
from train_speed import RUNS, make  # benchmarks/, the script's folder, is on sys.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="alocc,g2d")
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--rows", type=int, default=12)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    x = np.random.default_rng(0).integers(0, 256, (args.images, 28, 28), dtype=np.uint8)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.images} images")
    for method in args.methods.split(","):
        if method not in RUNS:
            parser.error(f"--methods: {method!r} is not one of {', '.join(RUNS)}")
        for precision in ("fp32", "bf16"):
            make(method, precision, args.device).fit(x[:256])  # warm-up
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                make(method, precision, args.device).fit(x)
            events = prof.key_averages()
            total = sum(e.self_cpu_time_total for e in events) / 1e6
            print(f"\n## {method} {precision}: {total:.2f} s of operator time\n")
            print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=40))


if __name__ == "__main__":
    main()
