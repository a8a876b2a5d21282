"""For the `--track-epochs` lines of a results ledger, per variant (method, preset, overrides) and seed: the test
AUROC after each epoch as a mean over the classes, the epoch where that mean peaks, the epochs the model
selection chose, and how often the validation value rose from one epoch to the next. For diagnosing training
and selection rules only: the test AUROCs here must not choose a hyper-parameter.

    python benchmarks/epoch_summary.py results/adacl-ablations.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict

from oneclass.bench.report import load_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ledger")
    args = parser.parse_args()
    groups: dict[str, list[dict]] = defaultdict(list)
    ledger_rows, _ = load_rows([args.ledger])  # checked result lines, as `oneclass report` reads them
    for row in ledger_rows:
        if row.get("epoch_test_auroc"):
            variant = f"{row['method']} {row['preset']} {json.dumps(row['overrides'], sort_keys=True)}"
            groups[f"{variant} seed {row['seed']}"].append(row)
    for variant, rows in groups.items():
        epochs = min(len(r["epoch_test_auroc"]) for r in rows)
        curve = [statistics.mean(r["epoch_test_auroc"][e] for r in rows) for e in range(epochs)]
        peak = max(range(epochs), key=curve.__getitem__)
        rises = [sum(b > a for a, b in zip(h, h[1:], strict=False)) / (len(h) - 1)
                 for h in (r.get("val_history", []) for r in rows) if len(h) > 1]
        print(f"## {variant} ({len(rows)} classes)")
        print("mean test AUROC per epoch:", " ".join(f"{x:.4f}" for x in curve))
        print(f"peak: epoch {peak + 1} ({curve[peak]:.4f}); last epoch {curve[-1]:.4f}; selected epochs "
              f"{[r['best_epoch'] for r in sorted(rows, key=lambda r: r['normal_class'])]} "
              f"(mean test AUROC at them {statistics.mean(r['auroc'][r['default_score']] for r in rows):.4f})")
        if rises:
            print(f"validation value rose in {statistics.mean(rises):.0%} of epoch-to-epoch steps")


if __name__ == "__main__":
    main()
