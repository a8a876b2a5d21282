"""OLED's Mask Module evaluation (the paper's §4.5, Table 5) and its Figure 2, as a small report.

Trains OLED on one MNIST digit under the MemAE protocol (digit 8 by default, as the paper), then:
- pixel AUROC of MG's activation maps A against the digit's non-zero pixels, separately for inlier and outlier
  test images (paper: 0.8499 / 0.8472);
- a figure like Figure 2: originals, the images masked by MM (hidden pixels mid-grey) and R's reconstructions,
  inliers above outliers, plus the activation maps;
- the four scores' test AUROCs of that model.

    python benchmarks/oled_masks.py --data-root ../shared/data --out results/oled-masks [--preset fast|paper]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import oneclass
from oneclass.bench.grid import Cell
from oneclass.data.catalog import load_dataset
from oneclass.data.protocols import make_split
from oneclass.metrics import auroc, pixel_auroc
from oneclass.report.figures import image_grid
from oneclass.report.write import Report
from oneclass.runtime import PRECISIONS

PAPER = {"inlier": 0.8499, "outlier": 0.8472}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--digit", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="fast", choices=["paper", "fast"])
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="training precision")
    parser.add_argument("--out", default="results/oled-masks")
    args = parser.parse_args()

    params, split_options = Cell("oled", "mnist", "memae", args.digit, args.seed, args.preset,
                             {"precision": args.precision}).settings()
    split = make_split("memae", load_dataset("mnist", args.data_root, download=False), args.digit, seed=args.seed,
                       **split_options)
    det = oneclass.create("oled", **params)
    start = time.perf_counter()
    det.fit(split.x_train, val=split.val)
    fit_s = time.perf_counter() - start

    inliers, outliers = split.x_test[split.y_test == 0], split.x_test[split.y_test == 1]
    ours = {name: pixel_auroc(images > 0, det.activation_maps(images)) for name, images in
            (("inlier", inliers), ("outlier", outliers))}
    scores = det.score(split.x_test)
    test_auroc = {k: auroc(split.y_test, v) for k, v in scores.items()}

    report = Report(f"OLED mask module on MNIST digit {args.digit} (MemAE protocol)")
    report.paragraph(f"Preset `{args.preset}`: {json.dumps({k: v for k, v in params.items() if k != 'seed'})}; seed "
                     f"{args.seed}; {len(split.x_train)} training images; epoch chosen by `{det.fit_info_['selection']}` "
                     f"(epoch {det.fit_info_['best_epoch']} of {det.fit_info_['epochs']}); fit {fit_s / 60:.1f} min.")
    report.heading("Table 5: pixel AUROC of the activation maps A against the digit's non-zero pixels")
    report.table(["test images", "ours", "paper"],
                 [[k, f"{ours[k]:.4f}", f"{PAPER[k]:.4f}"] for k in ("inlier", "outlier")])
    report.heading("Test AUROC of this model")
    report.table(["score", "AUROC"], [[k, f"{v:.4f}"] for k, v in test_auroc.items()])
    report.heading("Figure 2: masks and reconstructions")
    pick = np.r_[np.arange(6), len(inliers) + np.arange(6)]
    shown = det.inpaint(split.x_test[pick])
    rows = [("original", split.x_test[pick] / 255.0), ("masked", shown["masked"][:, 0]),
            ("reconstruction", shown["reconstruction"][:, 0]), ("activation A", shown["activation"])]
    titles = [f"inlier {i + 1}" for i in range(6)] + [f"outlier {i + 1}" for i in range(6)]
    report.figure("oled-masks", image_grid(rows, titles, cmap_rows=("activation A",)),
                  "Columns: six inlier and six outlier test images. Rows: the original, the image masked by MM "
                  "(hidden pixels mid-grey), R's reconstruction of the masked image, and MG's activation map.")
    md, _ = report.write(args.out)
    (md.parent / "oled-masks.json").write_text(json.dumps(
        {"digit": args.digit, "seed": args.seed, "preset": args.preset, "params": params, "pixel_auroc": ours,
         "paper": PAPER, "test_auroc": test_auroc, "fit_seconds": round(fit_s, 1), "fit_info": det.fit_info_},
        indent=2, default=str) + "\n")
    print(f"pixel AUROC inlier {ours['inlier']:.4f} outlier {ours['outlier']:.4f}; report: {md}")


if __name__ == "__main__":
    main()
