"""What `alocc_phase_two.py` and `g2d_detector_options.py` share (issue 51): the split with 150 training normals held
out, the validation sets made from them (never from test images), and the command line that runs a grid of
(class, seed) cells into a ledger, resuming where it stopped."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from adacl_epochs import reshaped

import oneclass
from oneclass.data.catalog import load_dataset
from oneclass.data.protocols import make_split
from oneclass.methods.adacl import mix_up

HELD_OUT = 150


def held_out_split(data, dataset: str, c: int, seed: int):
    """(split, training images less the held-out ones, validation sets, their labels). The sets: the held-out normals
    against one created anomaly of each (ADACL's cut-paste, puzzle, rotation, mix-up), one mix-up of each and one
    reshaped copy (stretched or squashed across, or thickened), and "test", the protocol's test images (MNIST:
    the outlier-ratio protocol; Fashion-MNIST: one-vs-rest). Images as floats in [0, 1], (n, 1, H, W)."""
    split = make_split("outlier-ratio" if dataset == "mnist" else "one-vs-rest", data, c, seed=seed)
    x = torch.from_numpy(split.x_train).float().div(255)[:, None]
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    held, train = x[order[:HELD_OUT]], x[order[HELD_OUT:]]
    made = oneclass.create("adacl").create_anomalies(held, torch.Generator().manual_seed(seed + 1))
    sets = {"val_created": torch.cat([held, made]),
            "val_mixup": torch.cat([held, mix_up(held, 0.5, torch.Generator().manual_seed(seed + 2))]),
            "val_reshaped": torch.cat([held, reshaped(held, torch.Generator().manual_seed(seed + 3))]),
            "test": torch.from_numpy(split.x_test).float().div(255)[:, None]}
    return split, train, sets, np.r_[np.zeros(HELD_OUT, np.int64), np.ones(HELD_OUT, np.int64)]


def run_grid(description: str, run: Callable[..., dict], summarise: Callable[[str], None], dataset: str, seeds: str) -> None:
    """The command line: `--summary` prints the ledger's summary; otherwise `run(data, dataset, class, seed)` for each
    cell not yet in `--out`, one JSON line each."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--dataset", default=dataset, choices=["fashion-mnist", "mnist"])
    ap.add_argument("--classes", default="0")
    ap.add_argument("--seeds", default=seeds)
    ap.add_argument("--out", required=True)
    ap.add_argument("--summary", action="store_true")
    args = ap.parse_args()
    if args.summary:
        summarise(args.out)
        return
    data = load_dataset(args.dataset, args.data_root)
    done = ({(ln["dataset"], ln["class"], ln["seed"]) for ln in map(json.loads, open(args.out))}
            if Path(args.out).exists() else set())
    for seed in map(int, args.seeds.split(",")):
        for c in map(int, args.classes.split(",")):
            if (args.dataset, c, seed) in done:
                continue
            line = run(data, args.dataset, c, seed)
            with open(args.out, "a") as f:
                f.write(json.dumps(line) + "\n")
            print(json.dumps({k: v for k, v in line.items() if k != "variants"}), flush=True)
