"""Which real anomalies a detector misses: train on one normal class (one-vs-rest, the paper preset) and report the
test AUROC of the normal class against each other class separately, one JSON line per method, class and seed
(a rerun skips the cells already in --out).
For diagnosis only: these test AUROCs must not choose a hyper-parameter.

    python benchmarks/per_anomaly_class.py --methods adacl --dataset fashion-mnist --classes 0,3,4,5 --seeds 0,1,2 \
        --data-root ../shared/data --out results/adacl-per-anomaly-class.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import oneclass
from oneclass.bench import parse_classes
from oneclass.data.catalog import load_dataset
from oneclass.data.protocols import one_vs_rest
from oneclass.evaluation import git_commit
from oneclass.settings import resolve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", required=True, help="comma-separated methods")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--classes", default="all")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    data = load_dataset(args.dataset, data_root=args.data_root, download=False)
    labels = data["y_test"]
    present = sorted(int(c) for c in np.unique(data["y_train"]))
    classes = present if args.classes == "all" else parse_classes(args.classes)
    done = set()  # cells already in --out: a rerun resumes, as `oneclass bench` does
    if Path(args.out).exists():
        done = {(r["method"], r["normal_class"], r["seed"]) for r in map(json.loads, Path(args.out).read_text().splitlines())}
    with open(args.out, "a") as out:
        for method in args.methods.split(","):
            for normal in classes:
                split = one_vs_rest(data, normal)
                for seed in (int(s) for s in args.seeds.split(",")):
                    if (method, normal, seed) in done:
                        continue
                    params, _ = resolve(method, "paper", {"precision": args.precision, "calibration": 0.0}, seed)
                    t0 = time.perf_counter()
                    det = oneclass.create(method, **params).fit(split.x_train)
                    fit_seconds = time.perf_counter() - t0
                    scores = det.score(split.x_test).default
                    normal_scores = scores[labels == normal]
                    per_class = {}
                    for other in (c for c in present if c != normal):
                        other_scores = scores[labels == other]
                        y = np.r_[np.zeros(len(normal_scores)), np.ones(len(other_scores))]
                        per_class[str(other)] = round(oneclass.metrics.auroc(y, np.r_[normal_scores, other_scores]), 5)
                    line = {"method": method, "dataset": args.dataset, "normal_class": normal, "seed": seed,
                            "precision": args.precision, "auroc": round(oneclass.metrics.auroc(split.y_test, scores), 5),
                            "auroc_per_anomaly_class": per_class, "best_epoch": det.fit_info_.get("best_epoch"),
                            "fit_seconds": round(fit_seconds, 2), "params": det.get_params(), "commit": git_commit()}
                    out.write(json.dumps(line) + "\n")
                    out.flush()
                    print(f"{method} class {normal} seed {seed}: {line['auroc']:.4f}; {per_class}", flush=True)


if __name__ == "__main__":
    main()
