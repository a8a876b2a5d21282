"""ADACL diagnosis (issue 26): how well the trained regressor tells normal images from each kind of created anomaly,
beside its test AUROC, for the paper's augmentation mix and for variants that drop or keep one kind.

Per cell (Fashion-MNIST one-vs-rest, paper preset, as `oneclass bench` would train it): the test AUROC, and for each
augmentation the AUROC of 1,000 normal test images against their augmented copies (normal images only: no anomaly
labels are used). One JSON line per (variant, class, seed), appended to --out.

    python benchmarks/adacl_augmentations.py --data-root ../shared/data --classes 0-9 --seed 0 [--batch-size 256] \\
        --variants all,no-cut-paste,cut-paste --out results/adacl-augmentations.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import oneclass
from oneclass.bench.grid import Cell, parse_classes
from oneclass.data.catalog import load_dataset
from oneclass.data.protocols import make_split
from oneclass.methods.adacl import AUGMENTATIONS, cut_paste, mix_up, puzzle, rotate
from oneclass.metrics import auroc
from oneclass.runtime import PRECISIONS

VARIANTS = {"all": list(AUGMENTATIONS), "no-cut-paste": ["puzzle", "rotation", "mix-up"], "cut-paste": ["cut-paste"]}


def created_aurocs(det, normal_images: np.ndarray, seed: int) -> dict[str, float]:
    """AUROC of the trained ADACL's score on normal images against their copies made by each augmentation."""
    normal = det.network_input(normal_images)
    normal_scores = det.score(normal_images).default

    def score(created: torch.Tensor) -> np.ndarray:  # ADACL's networks see [-1, 1]: back to images in [0, 1]
        return det.score(((created + 1) / 2).clamp(0, 1)).default

    gen = torch.Generator().manual_seed(seed)
    created = {"cut-paste": cut_paste(normal, tuple(det.cut_paste_side), gen), "puzzle": puzzle(normal, gen),
               "rotation": rotate(normal, gen), "mix-up": mix_up(normal, det.mix_up_weight, gen)}
    labels = np.r_[np.zeros(len(normal)), np.ones(len(normal))]
    return {kind: round(auroc(labels, np.r_[normal_scores, score(x)]), 5) for kind, x in created.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--classes", default="0-9")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="all,no-cut-paste,cut-paste")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="training precision")
    parser.add_argument("--batch-size", type=int, default=None, help="ADACL's batch size (default: its default)")
    parser.add_argument("--out", default="results/adacl-augmentations.jsonl")
    args = parser.parse_args()

    data = load_dataset("fashion-mnist", args.data_root, download=False)
    for variant in args.variants.split(","):
        for cls in parse_classes(args.classes):
            overrides = {"augmentations": VARIANTS[variant], "precision": args.precision,
                         **({"batch_size": args.batch_size} if args.batch_size else {})}
            params, options = Cell("adacl", "fashion-mnist", "one-vs-rest", cls, args.seed, "paper", overrides).settings()
            split = make_split("one-vs-rest", data, cls, seed=args.seed, **options)
            det = oneclass.create("adacl", **params)
            start = time.perf_counter()
            det.fit(split.x_train)
            line = {"variant": variant, "augmentations": VARIANTS[variant], "class": cls, "seed": args.seed,
                    "batch_size": det.batch_size,
                    "precision": det.fit_info_["precision"], "fit_seconds": round(time.perf_counter() - start, 1),
                    "best_epoch": det.fit_info_.get("best_epoch"),
                    "test_auroc": round(auroc(split.y_test, det.score(split.x_test).default), 5)}
            line["created_auroc"] = created_aurocs(det, split.x_test[split.y_test == 0][:1000], args.seed)
            with Path(args.out).open("a") as f:
                f.write(json.dumps(line) + "\n")
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
