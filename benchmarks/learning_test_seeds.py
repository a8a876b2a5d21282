"""The learning tests' settings over seeds 0-4 in one precision: the AUROC of each seed and the lowest, so that a
test's floor keeps a margin that holds over seeds. Run it with OMP_NUM_THREADS=1 and with 2 (thread counts change
the floating-point order). The settings are those of tests/contract/test_methods.py, test_ada.py, test_adacl.py,
test_alocc.py, test_g2d.py and test_oled.py; keep them in step.

    OMP_NUM_THREADS=1 python benchmarks/learning_test_seeds.py --precision bf16 > results/learning-tests-bf16-1thread.txt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))
from test_ada import TINY as ADA_TINY  # noqa: E402  (the tests' own settings)
from test_oled import SMALL as OLED_SMALL  # noqa: E402
from test_oled import _blobs  # noqa: E402

import oneclass  # noqa: E402
from oneclass.data import load_dataset  # noqa: E402
from oneclass.data.protocols import one_vs_rest  # noqa: E402
from oneclass.metrics import auroc  # noqa: E402
from oneclass.runtime import PRECISIONS  # noqa: E402

# tests/contract/test_methods.py::test_detectors_learn_something_on_real_images
ON_TROUSERS = {
    "ae": {"epochs": 20, "batch_size": 32}, "cae": {"epochs": 20, "batch_size": 32},
    "vae": {"epochs": 20, "batch_size": 32}, "dsvdd": {"epochs": 30, "ae_epochs": 30, "batch_size": 32},
    "adacl": {"epochs": 10, "batch_size": 32},
    "oled": {"epochs": 10, "batch_size": 32, "widths": (16, 24, 32), "kernel": 3},
}
TESTS = [*ON_TROUSERS, "adacl-bce", "oled-mask", "g2d", "alocc", "ada"]


def aurocs(test: str, seed: int, precision: str, mini: dict) -> list[float]:
    """The AUROC(s) the test asserts on, for one seed."""
    split = one_vs_rest(mini, normal_class=1)
    common = {"seed": seed, "precision": precision, "calibration": 0.0}  # the tests train on the whole set
    if test in ON_TROUSERS:
        det = oneclass.create(test, **ON_TROUSERS[test], **common).fit(split.x_train)
        return [auroc(split.y_test, det.score(split.x_test).default)]
    if test == "adacl-bce":
        x, y = mini["x_train"][mini["y_train"] == 1], mini["y_test"] != 1
        det = oneclass.create("adacl", loss="bce", epochs=5, val_size=0, **common).fit(x)
        return [auroc(y, det.score(mini["x_test"]).default)]
    if test == "oled-mask":
        det = oneclass.create("oled", epochs=20, mask_update_every=1, **OLED_SMALL, **common).fit(_blobs(256, seed=0))
        x, square = _blobs(64, seed=50), np.zeros((64, 28, 28), bool)
        for i, (top, left) in enumerate(np.random.default_rng(100).integers(0, 22, (64, 2))):
            x[i, top:top + 6, left:left + 6], square[i, top:top + 6, left:left + 6] = 255, True
        return [auroc(square.ravel().astype(int), det.activation_maps(x).ravel())]
    if test == "g2d":
        det = oneclass.create("g2d", widths=(16, 32, 64), detector_epochs=5, **common).fit(split.x_train)
        return [auroc(split.y_test, det.score(split.x_test).default)]
    if test == "alocc":  # rec, then d_rx (of D after its second phase, the default since issue 51)
        det = oneclass.create("alocc", widths=(16, 32, 64, 128), epochs=8, batch_size=32, r_steps=2, **common)
        scores = det.fit(split.x_train).score(split.x_test)
        return [auroc(split.y_test, scores["rec"]), auroc(split.y_test, scores["d_rx"])]
    scores = oneclass.create("ada", **{**ADA_TINY, "epochs": 20}, **common).fit(split.x_train).score(split.x_test)
    return [auroc(split.y_test, scores["rec"]), auroc(split.y_test, scores.default)]  # ada: rec, then cam_d


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="auto", choices=PRECISIONS)
    parser.add_argument("--tests", default=",".join(TESTS), help=f"some of {', '.join(TESTS)}")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    mini = load_dataset("fashion-mnist-mini")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, precision {args.precision}")
    for test in args.tests.split(","):
        if test not in TESTS:
            parser.error(f"--tests: {test!r} is not one of {', '.join(TESTS)}")
        runs = [aurocs(test, seed, args.precision, mini) for seed in range(args.seeds)]
        per_seed = " ".join("/".join(f"{v:.3f}" for v in run) for run in runs)
        lowest = "/".join(f"{v:.3f}" for v in np.min(runs, axis=0))
        print(f"{test}: seeds 0-{args.seeds - 1}: {per_seed}; lowest {lowest}", flush=True)


if __name__ == "__main__":
    main()
