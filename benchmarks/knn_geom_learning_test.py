"""The margins of tests/unit/test_knn_geom.py's learning test: each score's AUROC over seeds 0-4 at the defaults (250
trousers of the embedded subset against its whole test split), and two broken versions that the floors must fail:
a transformation classifier that learns nothing (lr 1e-9) and a kNN member whose bank of training images is empty.

    OMP_NUM_THREADS=1 python benchmarks/knn_geom_learning_test.py > results/learning-tests-knn-geom.txt
"""

from __future__ import annotations

import oneclass
from oneclass.data import load_dataset
from oneclass.metrics import auroc


def main() -> None:
    mini = load_dataset("fashion-mnist-mini")
    trousers, labels = mini["x_train"][mini["y_train"] == 1], (mini["y_test"] != 1).astype(int)
    for label, params, empty_bank in (("defaults", {}, False), ("classifier lr 1e-9", {"lr": 1e-9}, False),
                                      ("empty kNN bank", {}, True)):
        for seed in range(5):
            det = oneclass.create("knn_geom", seed=seed, calibration=0.0, **params).fit(trousers)
            if empty_bank:
                det.net_.bank.zero_()
                det.net_.bank_sq.zero_()
            scores = det.score(mini["x_test"])
            print(label, "seed", seed, " ".join(f"{k} {auroc(labels, v):.4f}" for k, v in scores.items()), flush=True)


if __name__ == "__main__":
    main()
