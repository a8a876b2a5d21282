"""The distance to the nearest training images in raw pixels (scikit-learn's `NearestNeighbors`, k = 1 and 5), on
Fashion-MNIST and MNIST one-vs-rest: the plain baseline issue 47 measures the library against. One JSON line per
(dataset, k, class), with the seconds the fit and the queries took.

    python benchmarks/pixel_knn.py --data-root ../shared/data --out results/pixel-knn.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sklearn.neighbors import NearestNeighbors

from oneclass.data.catalog import load_dataset
from oneclass.data.protocols import make_split
from oneclass.metrics import auroc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with args.out.open("a") as f:
        for dataset in ("fashion-mnist", "mnist"):
            data = load_dataset(dataset, args.data_root, download=False)
            for c in range(10):
                split = make_split("one-vs-rest", data, c, seed=0)
                train = split.x_train.reshape(len(split.x_train), -1) / 255.0
                test = split.x_test.reshape(len(split.x_test), -1) / 255.0
                start = time.time()
                distances, _ = NearestNeighbors(n_neighbors=5).fit(train).kneighbors(test)
                seconds = time.time() - start
                for k in (1, 5):
                    value = auroc(split.y_test, distances[:, :k].mean(1))
                    f.write(json.dumps({"method": "pixel-knn", "k": k, "dataset": dataset, "protocol": "one-vs-rest",
                                        "normal_class": c, "auroc": round(value, 6), "seconds": round(seconds, 2)}) + "\n")
                print(dataset, c, f"{seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
