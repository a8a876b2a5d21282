"""How knn_geom's map searches its neighbours (`map_neighbours`, `map_shift`, `map_patch`), on the generated defects
set: each variant on a validation set made with seed 1 (which picks the default) and on the bench's test set
(seed 0, reported only). knn_geom is fitted once per category and split; the variants reuse its bank.

    python benchmarks/knn_maps.py --out results/knn-maps.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from oneclass import create
from oneclass.data.defects import CATEGORIES, make_defects
from oneclass.data.mvtec import read_category
from oneclass.evaluation import localisation_metrics

#: (map_neighbours, map_shift, map_patch); (1, 0, 1) is the squared difference to the nearest image (before issue 49)
VARIANTS = ((1, 0, 1), (1, 1, 1), (5, 0, 1), (5, 1, 1), (5, 2, 1), (5, 1, 3), (10, 1, 3), (5, 2, 3), (10, 2, 3))
SPLITS = {"validation": ("data-cache/defects-val", 1), "test": ("data-cache/defects", 0)}


def choose(lines: list[dict]) -> tuple:
    """The variant with the best mean, over categories, of (image AUROC by map maximum + pixel AUROC) / 2 on the
    validation split."""
    means = {}
    for v in {tuple(r["variant"]) for r in lines if r["split"] == "validation"}:
        rows = [r for r in lines if r["split"] == "validation" and tuple(r["variant"]) == v]
        means[v] = np.mean([(r["image_auroc"]["map_max"] + r["pixel_auroc"]) / 2 for r in rows])
    return max(means, key=means.get)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    for split, (root, seed) in SPLITS.items():
        if not Path(root).exists():
            make_defects(root, seed=seed)
        for name in CATEGORIES:
            category = read_category(Path(root) / name, size=(128, 128))
            det = create("knn_geom", seed=0, precision="fp32").fit(category.train.images)
            for variant in VARIANTS:
                det.set_params(**dict(zip(("map_neighbours", "map_shift", "map_patch"), variant, strict=True)))
                det.net_.map_neighbours, det.net_.map_shift, det.net_.map_patch = variant  # same fit, another search
                start = time.perf_counter()
                line = localisation_metrics(det, category)
                line = {"split": split, "data_seed": seed, "category": name, "variant": list(variant), **line,
                        "wall_seconds": round(time.perf_counter() - start, 2), "threads": torch.get_num_threads()}
                with out.open("a") as f:
                    f.write(json.dumps(line) + "\n")
                print(split, name, variant, line["image_auroc"]["map_max"], line["pixel_auroc"], flush=True)
    lines = [json.loads(r) for r in out.read_text().splitlines()]
    print("chosen on validation:", choose(lines))


if __name__ == "__main__":
    main()
