"""Per variant of results ledgers (method, preset and overrides): the validation AUROC at the selected epoch, at
the last epoch and averaged over the last five (steadier where it swings from epoch to epoch), for lines whose
rule validates with an AUROC (`val-with-outliers`, `val-normal-aug`): mean over classes, then mean ± sd over
seeds, beside the test AUROC of the default score computed the same way. Variants compared on validation data
(which the protocol allows), not on the test labels.

    python benchmarks/validation_summary.py results/oled-mnist-studies-cuda.jsonl
    python benchmarks/validation_summary.py results/adacl-fmnist.jsonl results/adacl-batch.jsonl
    python benchmarks/validation_summary.py results/alocc-d-batches.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict

from oneclass.bench.report import load_rows

#: selection rules whose validation value is an AUROC (higher is better)
AUROC_RULES = ("val-with-outliers", "val-normal-aug")


def mean_sd(per_seed: dict[int, list[float]]) -> str:
    means = [statistics.mean(v) for _, v in sorted(per_seed.items())]
    sd = statistics.stdev(means) if len(means) > 1 else 0.0
    return f"{statistics.mean(means):.4f} ± {sd:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ledgers", nargs="+")
    args = parser.parse_args()
    val: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    last: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    last5: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    test: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    ledger_rows, _ = load_rows(args.ledgers)  # checked result lines, as `oneclass report` reads them
    for row in ledger_rows:
        if row.get("selection") not in AUROC_RULES:
            continue
        variant = f"{row['method']} {row['preset']} {json.dumps(row['overrides'], sort_keys=True)}"
        val[variant][row["seed"]].append(max(row["val_history"]))
        last[variant][row["seed"]].append(row["val_history"][-1])
        last5[variant][row["seed"]].append(statistics.mean(row["val_history"][-5:]))
        test[variant][row["seed"]].append(row["auroc"][row["default_score"]])
    print("| variant | classes × seeds | validation AUROC | at the last epoch | mean of the last 5 | test AUROC |\n"
          "|---|---|---|---|---|---|")
    for variant in sorted(val, key=lambda v: -statistics.mean(x for s in val[v].values() for x in s)):
        n = f"{len(next(iter(val[variant].values())))} × {len(val[variant])}"
        print(f"| {variant} | {n} | {mean_sd(val[variant])} | {mean_sd(last[variant])} | "
              f"{mean_sd(last5[variant])} | {mean_sd(test[variant])} |")


if __name__ == "__main__":
    main()
