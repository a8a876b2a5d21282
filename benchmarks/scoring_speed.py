"""Scoring speed of `knn_geom` at its defaults: images/s of `score` on the 10,000 Fashion-MNIST test images, after
fitting on class 0, with 1 and 2 threads (best of three runs each). One JSON line per thread count.

    python benchmarks/scoring_speed.py --data-root ../shared/data --out results/scoring-speed.jsonl
    python benchmarks/scoring_speed.py --data-root ../shared/data --params '{"widths": [32, 64, 128]}' \
        --out results/scoring-speed.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

import oneclass
from oneclass.data.catalog import load_dataset
from oneclass.data.protocols import make_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--method", default="knn_geom")
    parser.add_argument("--params", default="{}", help="hyper-parameters over the defaults, as JSON")
    args = parser.parse_args()
    split = make_split("one-vs-rest", load_dataset("fashion-mnist", args.data_root, download=False), 0, seed=0)
    params = json.loads(args.params)
    det = oneclass.create(args.method, seed=0, **params).fit(split.x_train)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        det.score(split.x_test[:512])  # warm up
        best = min(_timed(det, split.x_test) for _ in range(3))
        line = {"method": args.method, "params": params, "images": len(split.x_test), "threads": threads,
                "seconds": round(best, 3), "images_per_second": round(len(split.x_test) / best), "cpus": os.cpu_count(),
                "precision": det.fit_info_.get("precision")}
        print(line, flush=True)
        with args.out.open("a") as f:
            f.write(json.dumps(line) + "\n")


def _timed(det, x) -> float:
    start = time.perf_counter()
    det.score(x)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
