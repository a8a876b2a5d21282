"""Fashion-MNIST one-vs-rest on the full data: per-class AUROC and wall time of baselines.

Train: all 6,000 training images of the normal class; test: the whole 10,000-image test split; no
validation (the last epoch is kept); default hyper-parameters unless --set is given. Each finished
(method, class) appends one JSON line to --out, and a rerun skips the cells already there.

    python benchmarks/fashion_mnist_baselines.py --methods ae,dsvdd --data-root ../shared/data --out results/fmnist.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

import oneclass
from oneclass.cli import evaluate, hyper_parameters
from oneclass.data import load_dataset, make_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="ae,dsvdd")
    parser.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="applied to every method")
    parser.add_argument("--out", default="results/fashion-mnist-baselines.jsonl")
    args = parser.parse_args()

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            try:
                r = json.loads(line)
                done.add((r["method"], r["normal_class"], r["seed"]))
            except (json.JSONDecodeError, KeyError):
                continue  # a line cut short by an interrupted run
    data = load_dataset("fashion-mnist", args.data_root)
    for method in args.methods.split(","):
        for c in [int(c) for c in args.classes.split(",")]:
            if (method, c, args.seed) in done:
                continue
            split = make_split("one-vs-rest", data, c, seed=args.seed)
            det = oneclass.create(method, **hyper_parameters(method, args.set, None, args.seed))
            scores, aucs, fit_s, score_s = evaluate(det, split)
            row = {"method": method, "dataset": "fashion-mnist", "protocol": "one-vs-rest", "normal_class": c,
                   "seed": args.seed, "auroc": {k: round(v, 5) for k, v in aucs.items()},
                   "default_score": scores.default_name, "selection": det.fit_info_.get("selection", "none"),
                   "n_train": len(split.x_train), "n_test": len(split.x_test), "fit_seconds": round(fit_s, 1),
                   "score_seconds": round(score_s, 1), "params": det.get_params(), "version": oneclass.__version__}
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())
            print(f"{method:6s} class {c}: AUROC {row['auroc'][scores.default_name]:.4f}  "
                  f"fit {row['fit_seconds']:.0f} s  score {row['score_seconds']:.0f} s", flush=True)
    summarise(out, args.methods.split(","), args.seed)


def summarise(path: Path, methods: list[str], seed: int) -> None:
    """Print each method's per-class AUROC and a Markdown table (classes as rows, methods as columns)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    table: dict[str, dict[int, dict]] = {}
    for r in rows:
        if r["method"] in methods and r["seed"] == seed:
            table.setdefault(r["method"], {})[r["normal_class"]] = r
    found = [m for m in methods if m in table]
    if not found:
        return
    classes = sorted({c for m in found for c in table[m]})
    print("\n| class | " + " | ".join(f"{m} ({next(iter(table[m].values()))['default_score']})" for m in found) + " |")
    print("|---|" + "---|" * len(found))
    for c in classes:
        cells = [f"{table[m][c]['auroc'][table[m][c]['default_score']]:.4f}" if c in table[m] else "" for m in found]
        print(f"| {c} | " + " | ".join(cells) + " |")
    means = [np.mean([r["auroc"][r["default_score"]] for r in table[m].values()]) for m in found]
    print("| **mean** | " + " | ".join(f"**{v:.4f}**" for v in means) + " |")
    minutes = [sum(r["fit_seconds"] + r["score_seconds"] for r in table[m].values()) / 60 for m in found]
    print("| wall time, all classes | " + " | ".join(f"{v:.1f} min" for v in minutes) + " |")


if __name__ == "__main__":
    main()
