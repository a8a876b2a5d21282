"""F1 of the target (normal) class when the detector decides with its own calibrated threshold (`decision` in a
result line: set on training or validation normals only, before any test image is seen), recovered from the
line's test false- and true-positive rates on the whole test split. Lines written since `oneclass bench` records
`f1_target_decision` hold this number (and the one of every outlier-ratio test set) directly; this script serves
the ledgers written before.

For the outlier-ratio protocol the whole test split is the 50 % set, and each smaller set holds the same
normals with a subset of its outliers, so its F1 at the same threshold can only be equal or higher: the number
printed is the lowest F1 over the 10–50 % sets.

    python benchmarks/decision_f1.py results/alocc-paper-stability.jsonl
"""

from __future__ import annotations

import argparse
import json

from oneclass.bench.report import load_rows


def target_f1_from_rates(n_normal: int, n_anomalous: int, test_fpr: float, test_tpr: float) -> float:
    """F1 with the normal class positive, from the rates at which normals and anomalies were flagged."""
    kept_normal = round(n_normal * (1.0 - test_fpr))  # normals called normal (true positives of the target class)
    missed_normal = n_normal - kept_normal
    passed_anomalous = round(n_anomalous * (1.0 - test_tpr))  # anomalies called normal
    return 2 * kept_normal / (2 * kept_normal + missed_normal + passed_anomalous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ledgers", nargs="+")
    args = parser.parse_args()
    rows, _ = load_rows(args.ledgers)  # checked result lines, as `oneclass report` reads them
    print("| method | class | seed | threads | overrides | score | threshold from | flagged normals | flagged anomalies | "
          "target F1 at the threshold | at the known share |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        decision = row.get("decision")
        if not decision:
            continue
        n_anomalous = round(row["n_test"] * row["anomaly_fraction"])
        f1 = target_f1_from_rates(row["n_test"] - n_anomalous, n_anomalous, decision["test_fpr"], decision["test_tpr"])
        overrides = json.dumps(row["overrides"], sort_keys=True)
        print(f"| {row['method']} | {row['normal_class']} | {row['seed']} | {row['threads']} | {overrides} "
              f"| {decision['score']} | {decision['source']} ({decision['fpr']:.0%} of {decision['n']}) "
              f"| {decision['test_fpr']:.3f} | {decision['test_tpr']:.3f} | {f1:.4f} "
              f"| {row['f1_target'][decision['score']]:.4f} |")


if __name__ == "__main__":
    main()
