"""Rebuild the embedded Fashion-MNIST subset in src/oneclass/assets/fashion-mnist-mini/.

Stratified and seeded: 250 training and 100 test images per class, drawn at random from the official
splits, kept in the official order. Usage: python tools/make_embedded_subset.py [--data-root DIR]
"""

import argparse
from pathlib import Path

import numpy as np

from oneclass.data.catalog import IDX_FILES, load_dataset
from oneclass.data.idx import write_idx

PER_CLASS = {"train": 250, "test": 100}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    data = load_dataset("fashion-mnist", args.data_root)
    out = Path(__file__).resolve().parents[1] / "src/oneclass/assets/fashion-mnist-mini"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, per_class in PER_CLASS.items():
        y = data[f"y_{split}"]
        keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(10)]))
        write_idx(out / f"{IDX_FILES['x_' + split]}.gz", data[f"x_{split}"][keep])
        write_idx(out / f"{IDX_FILES['y_' + split]}.gz", y[keep])
    print(f"wrote {out}: {sum(p.stat().st_size for p in out.iterdir()) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
