"""Why ADA's semi-supervised score stays near chance on our noisy MNIST (issue 26): can D_ano, or any classifier
of its shape, tell the normal digit from the rest after learning it against one known anomaly digit?

For each known digit and seed (normal digit 0, the noisy-mnist protocol, fast preset):
- trains ADA with the known digit and reads D_ano: its output on the training normals and known anomalies (does
  it separate what it was trained on?) and on the test set (AUROC of −D_ano; mean output on test normals);
- trains a plain supervised classifier with D's architecture (the paper's "CNN regression" baseline in spirit:
  normal → 1, known digit → 0, BCE, RMSProp 3e-4, batch 64, 10 epochs) on the same images, and on 900 images a
  class instead of 200 (a split drawn and rendered anew, with its own test images), and reports its test AUROC,
  overall and against each digit.
One JSON line per (known digit, seed, model).

    python benchmarks/ada_semi_probe.py --data-root ../shared/data --out results/ada-semi-probe.jsonl
    python benchmarks/ada_semi_probe.py --size-range 56,84 --data-root ../shared/data --out results/ada-semi-probe.jsonl
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch.nn import functional as F

import oneclass
from oneclass.bench.grid import Cell
from oneclass.data.catalog import load_dataset
from oneclass.data.protocols import make_split
from oneclass.methods.ada import Discriminator
from oneclass.metrics import auroc


def per_digit(scores: np.ndarray, digits: np.ndarray) -> dict[str, float]:
    """AUROC of normal (digit 0) against each other digit."""
    out = {}
    for c in range(1, 10):
        m = (digits == 0) | (digits == c)
        out[str(c)] = round(auroc((digits[m] == c).astype(int), scores[m]), 4)
    return out


@torch.no_grad()
def anomaly_discriminator_output(det, images: np.ndarray) -> np.ndarray:
    """D_ano(x), the probability that x is a real normal image, in eval mode."""
    d_ano = det.net_.anomaly_discriminator.eval()
    return torch.cat([torch.sigmoid(d_ano(b)) for b in det.network_input(images).split(256)]).numpy()


def probe(split, digits: np.ndarray, seed: int, widths: tuple[int, ...], epochs: int = 10) -> dict:
    torch.manual_seed(seed)

    def scale(a):
        return torch.from_numpy(a).float().div(127.5).sub(1)[:, None]

    x = torch.cat([scale(split.x_train), scale(split.x_known)])
    y = torch.cat([torch.ones(len(split.x_train)), torch.zeros(len(split.x_known))])
    d = Discriminator(tuple(x.shape[1:]), widths, 3)
    opt = torch.optim.RMSprop(d.parameters(), lr=3e-4)
    for _ in range(epochs):
        d.train()
        for idx in torch.randperm(len(x)).split(64):
            loss = F.binary_cross_entropy_with_logits(d(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    d.eval()
    with torch.no_grad():
        train_out = torch.sigmoid(d(x)).numpy()
        score = -torch.sigmoid(d(scale(split.x_test))).numpy()
    return {"train_accuracy": round(float(((train_out > 0.5) == y.numpy().astype(bool)).mean()), 4),
            "test_auroc": round(auroc(split.y_test, score), 4), "test_auroc_vs_digit": per_digit(score, digits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--known", default="1,3")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--size-range", help="the protocol's digit sizes in px, e.g. 56,84 (default: the protocol's)")
    args = parser.parse_args()
    protocol_options = {"size_range": [int(v) for v in args.size_range.split(",")]} if args.size_range else {}
    data = load_dataset("mnist", args.data_root, download=False)
    with open(args.out, "a") as out:
        for known in [int(k) for k in args.known.split(",")]:
            for seed in [int(s) for s in args.seeds.split(",")]:
                params, options = Cell("ada", "mnist", "noisy-mnist", 0, seed, "fast",
                                       {"known_class": known, **protocol_options}).settings()
                split = make_split("noisy-mnist", data, 0, seed=seed, **options)
                digits = np.repeat(np.arange(10), options.get("test_per_class", 100))  # the test set, class by class
                base = {"known_class": known, "seed": seed, "normal_class": 0, "protocol": "noisy-mnist", **protocol_options,
                        "preset": "fast", "precision": "fp32", "threads": torch.get_num_threads()}
                t = time.time()
                det = oneclass.create("ada", **{**params, "precision": "fp32"}).fit(split.x_train, known_anomalies=split.x_known)
                normal, known_out, test = (anomaly_discriminator_output(det, x)
                                           for x in (split.x_train, split.x_known, split.x_test))
                line = {**base, "model": "ada D_ano", "fit_seconds": round(time.time() - t, 1),
                        "train_auroc": round(auroc(np.r_[np.zeros(len(normal)), np.ones(len(known_out))],
                                                   -np.r_[normal, known_out]), 4),
                        "train_normal_mean": round(float(normal.mean()), 4),
                        "train_known_mean": round(float(known_out.mean()), 4),
                        "test_normal_mean": round(float(test[split.y_test == 0].mean()), 4),
                        "test_auroc": round(auroc(split.y_test, -test), 4), "test_auroc_vs_digit": per_digit(-test, digits),
                        "test_auroc_scores": {k: round(auroc(split.y_test, v), 4) for k, v in det.score(split.x_test).items()}}
                out.write(json.dumps(line) + "\n")
                print(line, flush=True)
                widths = tuple(det.discriminator_widths)
                for n in (200, 900):
                    bigger = split if n == 200 else make_split("noisy-mnist", data, 0, seed=seed,
                                                              **{**options, "train_per_class": n})
                    line = {**base, "model": f"supervised D, {n} images a class", "train_per_class": n,
                            **probe(bigger, digits, seed, widths)}
                    out.write(json.dumps(line) + "\n")
                    print(line, flush=True)


if __name__ == "__main__":
    main()
