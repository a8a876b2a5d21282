"""Compare two ledgers of the same cells, e.g. before and after a change that must not move results:

    python benchmarks/compare_ledgers.py results/refactor-48-before-fp32-1thread.jsonl \
        results/refactor-48-after-fp32-1thread.jsonl

Prints, per cell (method, dataset, protocol, class, seed), each score's AUROC in both and the largest difference,
and whether the training losses (every epoch, 6 decimals) and the default score's ROC and histograms were equal;
exits with 1 when a cell of the first is missing from the second.
"""

from __future__ import annotations

import argparse
import json
import sys

from oneclass.bench import read_results
from oneclass.bench.results import cell_key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args()
    after = {cell_key(row)[:5]: row for row in read_results(args.after)}
    missing = 0
    for row in read_results(args.before):
        key = cell_key(row)[:5]
        other = after.get(key)
        if other is None:
            print(f"{' '.join(map(str, key))}: not in {args.after}")
            missing += 1
            continue
        diff = max(abs(row["auroc"][s] - other["auroc"][s]) for s in row["auroc"])
        same_losses = row["fit_info"].get("train_loss") == other["fit_info"].get("train_loss")
        same_curves = row.get("curves") == other.get("curves")
        scores = ", ".join(f"{s} {row['auroc'][s]:.5f} / {other['auroc'][s]:.5f}" for s in row["auroc"])
        method, dataset, protocol, normal_class, seed = (json.loads(k) for k in key)
        print(f"{method:6s} {dataset} {protocol} class {normal_class} seed {seed}: {scores}; largest difference "
              f"{diff:.5f}; training losses {'equal' if same_losses else 'differ'}, ROC and histograms of the default "
              f"score {'equal' if same_curves else 'differ'}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
