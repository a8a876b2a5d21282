"""ALOCC's Figures 6 and 7 as a small report: what R does to inliers and outliers, and where D puts them.

Trains ALOCC on one MNIST digit (1 by default, as the paper) with the outlier-ratio protocol's training set, then:
- Figure 6: test images of the digit and of two other digits (6 and 7, as the paper) above R's outputs;
- Figure 7: D(X) and D(R(X)) of 20 inliers and 20 outliers, with τ = 0.5 drawn;
- the AUROC of each score on the protocol's 50 % test set.

    python benchmarks/alocc_outputs.py --data-root ../shared/data --out results/alocc-outputs [--preset fast|paper]
"""

from __future__ import annotations

import argparse
import json
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from oneclass.bench.grid import Cell, prepare  # noqa: E402
from oneclass.data.catalog import load_dataset  # noqa: E402
from oneclass.metrics import auroc  # noqa: E402
from oneclass.report.figures import image_grid  # noqa: E402
from oneclass.report.write import Report  # noqa: E402
from oneclass.runtime import PRECISIONS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--digit", type=int, default=1)
    parser.add_argument("--outlier-digits", default="6,7")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="fast", choices=["paper", "fast"])
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="training precision")
    parser.add_argument("--out", default="results/alocc-outputs")
    args = parser.parse_args()

    data = load_dataset("mnist", args.data_root, download=False)
    cell = Cell("alocc", "mnist", "outlier-ratio", args.digit, args.seed, args.preset, {"precision": args.precision})
    params, _ = cell.settings()
    det, split = prepare(cell, args.data_root)
    start = time.perf_counter()
    det.fit(split.x_train, val=split.val)
    fit_s = time.perf_counter() - start
    test_auroc = {k: auroc(split.y_test, v) for k, v in det.score(split.x_test).items()}

    report = Report(f"ALOCC on MNIST digit {args.digit}: R's outputs and D's scores")
    report.paragraph(f"Preset `{args.preset}`: {json.dumps({k: v for k, v in params.items() if k != 'seed'})}; seed "
                     f"{args.seed}; {len(split.x_train)} training images of digit {args.digit}; "
                     f"{det.fit_info_['epochs']} epochs; fit {fit_s / 60:.1f} min.")
    report.heading("AUROC on the outlier-ratio protocol's 50 % test set")
    report.table(["score", "AUROC"], [[k, f"{v:.4f}"] for k, v in test_auroc.items()])

    others = [int(d) for d in args.outlier_digits.split(",")]
    inliers = data["x_test"][data["y_test"] == args.digit][:8]
    outliers = np.concatenate([data["x_test"][data["y_test"] == d][:4] for d in others])
    shown = np.concatenate([inliers, outliers])
    rows = [("X", shown / 255.0), ("R(X)", det.reconstruct(shown)[:, 0])]
    titles = [f"{args.digit}"] * len(inliers) + [str(d) for d in others for _ in range(4)]
    report.heading("Figure 6: R's outputs")
    report.figure("alocc-r-outputs", image_grid(rows, titles),
                  f"Eight test images of digit {args.digit} (the target class) and four each of "
                  f"{' and '.join(map(str, others))}; below each, R's output.")

    pool = split.x_test
    rng = np.random.default_rng(args.seed)
    pick_in = rng.choice(np.flatnonzero(split.y_test == 0), 20, replace=False)
    pick_out = rng.choice(np.flatnonzero(split.y_test == 1), 20, replace=False)
    s = det.score(pool[np.r_[pick_in, pick_out]])
    fig, axes = plt.subplots(2, 1, figsize=(7, 3.6), sharex=True)
    for ax, name, label in ((axes[0], "d_rx", "D(R(X))"), (axes[1], "d_x", "D(X)")):
        likelihood = 1 - s[name]
        ax.scatter(np.arange(20), likelihood[:20], marker="s", color="tab:red", label="inlier")
        ax.scatter(np.arange(20), likelihood[20:], marker="x", color="k", label="outlier")
        ax.axhline(1 - det.decision_thresholds()[name], color="grey", ls="--", lw=0.8)
        ax.set(ylabel=label, ylim=(-0.05, 1.05))
    axes[0].legend(fontsize=7, ncol=2)
    axes[1].set_xlabel("sample")
    fig.tight_layout()
    report.heading("Figure 7: D's likelihood of the target class")
    report.figure("alocc-d-scores", fig, "D(R(X)) (top) and D(X) (bottom) for 20 inliers (red squares) and 20 "
                  "outliers (black crosses) of the 50 % test set; dashed: τ.")
    md, _ = report.write(args.out)
    (md.parent / "alocc-outputs.json").write_text(json.dumps(
        {"digit": args.digit, "seed": args.seed, "preset": args.preset, "params": params, "test_auroc": test_auroc,
         "fit_seconds": round(fit_s, 1), "fit_info": det.fit_info_}, indent=2, default=str) + "\n")
    print(f"AUROC {json.dumps({k: round(v, 4) for k, v in test_auroc.items()})}; report: {md}")


if __name__ == "__main__":
    main()
