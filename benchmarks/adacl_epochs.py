"""What ADACL's epochs rank, and what could choose among them without test labels (issue 26, diagnosis).

Two questions. (1) Would averaging over the epochs keep what the early epochs rank well?

ADACL's cyclic learning rate ends every epoch at its low point, so each epoch's network is a snapshot of the
kind that snapshot ensembles (Huang et al., 2017: mean of the snapshots' outputs) and stochastic weight
averaging (Izmailov et al., 2018: mean of their weights, BatchNorm statistics recomputed on training batches of
normal images and created anomalies) average. For each Fashion-MNIST class (one-vs-rest) and seed this trains
ADACL once (defaults, fp32) on the training normals less 150 held out; those 150 and one created anomaly of
each (ADACL's own augmentations) are the validation set, given to `fit`, so the default selection (the epoch
with the best validation AUROC) runs as in `bench`. After every epoch the script keeps the weights and the
outputs on the validation and test images. One JSON line per (class, seed): validation and test AUROC of every
epoch, of the selected epoch, and of both averages over the epochs k..E for k = 1, E/2 + 1 and E − 1.

(2) Can validation anomalies of kinds ADACL does not train on see the drift that its own kinds do not? The
same 150 held-out normals get a second set of anomalies that change the silhouette rather than rearrange the
image: half stretched or squashed across (width × U[0.6, 0.8] or × U[1.25, 1.5], re-centred) and half
thickened (a 3 × 3 maximum filter). Their AUROC is recorded per epoch (`epoch_val_unseen`), with the test AUROC
of the epoch they would select. Test labels are only reported.

    python benchmarks/adacl_epochs.py --data-root ../shared/data --seeds 0,1,2 --out results/adacl-epochs.jsonl
    python benchmarks/adacl_epochs.py --summary --out results/adacl-epochs.jsonl

`--summary` prints the means over the ledger's classes and seeds: the rows above, the best epoch by test AUROC
(an oracle, an upper bound for any selection rule) and patience-based early stopping read off the validation
histories (stop after `p` epochs without a new best; keep the best or the last epoch's network), the
epoch-by-epoch means and the rank correlation of validation and test over a run's epochs.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from scipy.stats import spearmanr
from torch.nn import functional as F
from torch.optim.swa_utils import update_bn

import oneclass
from oneclass.data.catalog import load_dataset
from oneclass.data.protocols import make_split
from oneclass.metrics import auroc
from oneclass.runtime import map_batches, to_device
from oneclass.training import EveryEpoch

HELD_OUT = 150


def reshaped(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Anomalies of kinds ADACL does not train on: the first half of `x` stretched or squashed across and
    re-centred, the second half thickened by a 3 × 3 maximum filter."""
    n, _, h, w = x.shape
    out = F.max_pool2d(x, 3, stride=1, padding=1)
    for i in range(n // 2):
        wider = torch.rand(1, generator=gen).item() < 0.5
        factor = 1.25 + 0.25 * torch.rand(1, generator=gen).item() if wider else 0.6 + 0.2 * torch.rand(1, generator=gen).item()
        new_w = max(1, round(w * factor))
        img = F.interpolate(x[i:i + 1], size=(h, new_w), mode="bilinear", align_corners=False)
        if new_w >= w:
            left = (new_w - w) // 2
            out[i] = img[0, :, :, left:left + w]
        else:
            left = (w - new_w) // 2
            out[i] = F.pad(img, (left, w - new_w - left))[0]
    return out


def run(data, c: int, seed: int) -> dict:
    split = make_split("one-vs-rest", data, c, seed=seed)
    x = torch.from_numpy(split.x_train).float().div(255)[:, None]
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    held, train = x[order[:HELD_OUT]], x[order[HELD_OUT:]]
    det = oneclass.create("adacl", precision="fp32", seed=seed, calibration=0.0)
    val_x = torch.cat([held, det.create_anomalies(held, torch.Generator().manual_seed(seed + 1))])
    val_y = np.r_[np.zeros(HELD_OUT, np.int64), np.ones(HELD_OUT, np.int64)]
    unseen_x = reshaped(held, torch.Generator().manual_seed(seed + 3))
    test_x = torch.from_numpy(split.x_test).float().div(255)[:, None]
    weights, val_out, unseen_out, test_out = [], [], [], []

    def keep(epoch):
        d = det
        d.net_.eval()
        weights.append({k: v.detach().clone() for k, v in d.net_.state_dict().items()})
        val_out.append(map_batches(d.net_, val_x, d.torch_device).numpy())
        unseen_out.append(map_batches(d.net_, unseen_x, d.torch_device).numpy())
        test_out.append(map_batches(d.net_, test_x, d.torch_device).numpy())

    t = time.time()
    det.fit(train, val=(val_x, val_y), callbacks=[EveryEpoch(keep)])
    fit_s = time.time() - t
    epochs = len(weights)
    line = {"class": c, "seed": seed, "epochs": epochs, "best_epoch": det.fit_info_["best_epoch"],
            "fit_seconds": round(fit_s, 1),
            "epoch_val": [round(auroc(val_y, v), 5) for v in val_out],
            "epoch_test": [round(auroc(split.y_test, s), 5) for s in test_out]}
    line["selected_val"] = line["epoch_val"][line["best_epoch"] - 1]
    line["selected_test"] = line["epoch_test"][line["best_epoch"] - 1]
    line["epoch_val_unseen"] = [round(auroc(val_y, np.r_[v[:HELD_OUT], u]), 5) for v, u in zip(val_out, unseen_out, strict=True)]
    line["unseen_best_epoch"] = int(np.argmax(line["epoch_val_unseen"])) + 1
    line["unseen_selected_test"] = line["epoch_test"][line["unseen_best_epoch"] - 1]
    net = det.net_
    # BatchNorm statistics on batches like training's: normal images and as many created anomalies
    gen = torch.Generator().manual_seed(seed + 2)
    bn_batches = [torch.cat([b, det.create_anomalies(b, gen)]) for b in train.split(256)]
    for first in sorted({1, epochs // 2 + 1, epochs - 1}):
        span = slice(first - 1, epochs)
        line[f"snapshots_from_{first}"] = {"val": round(auroc(val_y, np.mean(val_out[span], 0)), 5),
                                           "test": round(auroc(split.y_test, np.mean(test_out[span], 0)), 5)}
        averaged = {k: (torch.stack([w[k].float() for w in weights[span]]).mean(0).to(v.dtype)
                        if v.is_floating_point() else v) for k, v in weights[-1].items()}
        net.load_state_dict(averaged)
        update_bn([to_device(b, det.torch_device) for b in bn_batches], net)
        net.eval()
        line[f"swa_from_{first}"] = {"val": round(auroc(val_y, map_batches(net, val_x, det.torch_device).numpy()), 5),
                                     "test": round(auroc(split.y_test, map_batches(net, test_x, det.torch_device).numpy()), 5)}
    return line


def patience_stop(val: list[float], patience: int) -> tuple[int, int]:
    """(best epoch, stopping epoch), 0-based, of early stopping after `patience` epochs without a new best."""
    best = 0
    for i, v in enumerate(val):
        if v > val[best]:
            best = i
        elif i - best >= patience:
            return best, i
    return best, len(val) - 1


def summarise(path: str) -> None:
    """Print what docs/results.md cites from the ledger: per variant the validation and test AUROC (mean over the
    classes, then mean ± sd over the seeds), the test mean per seed and per class; the epoch-by-epoch means; how
    the validation and test AUROCs of a run's epochs are rank-correlated."""
    lines = [json.loads(t) for t in open(path)]
    seeds, classes = sorted({ln["seed"] for ln in lines}), sorted({ln["class"] for ln in lines})
    rows: dict[str, list[tuple[dict, float | None, float]]] = {}  # variant -> (line, validation, test) per run

    def add(name: str, ln: dict, val: float | None, test: float) -> None:
        rows.setdefault(name, []).append((ln, val, test))

    for ln in lines:
        test = ln["epoch_test"]
        add("selected epoch (validation rule)", ln, ln["selected_val"], ln["selected_test"])
        add("best epoch by test AUROC (oracle)", ln, None, max(test))
        add("epoch chosen on unseen kinds", ln, None, ln["unseen_selected_test"])
        for k in (k for k in ln if k.startswith(("snapshots_from", "swa_from"))):
            add(k, ln, ln[k]["val"], ln[k]["test"])
        for p in (1, 2, 3):
            best, stop = patience_stop(ln["epoch_val"], p)
            add(f"patience {p}, best network", ln, None, test[best])
            add(f"patience {p}, last network", ln, None, test[stop])

    def over_seeds(runs: list, i: int) -> str:
        per_seed = [np.mean([r[i] for r in runs if r[0]["seed"] == s]) for s in seeds]
        return f"{np.mean(per_seed):.4f} ± {np.std(per_seed, ddof=1) if len(seeds) > 1 else 0.0:.4f}"

    print("| variant | validation | test | test per seed | test per class (mean over seeds) |")
    print("|---|---|---|---|---|")
    for name, runs in rows.items():
        val = over_seeds(runs, 1) if runs[0][1] is not None else "—"
        per_seed = " ".join(f"{np.mean([r[2] for r in runs if r[0]['seed'] == s]):.4f}" for s in seeds)
        per_class = " ".join(f"{np.mean([r[2] for r in runs if r[0]['class'] == c]):.3f}" for c in classes)
        print(f"| {name} | {val} | {over_seeds(runs, 2)} | {per_seed} | {per_class} |")
    print("\nselected epochs:", min(ln["best_epoch"] for ln in lines), "to", max(ln["best_epoch"] for ln in lines))
    for key in ("epoch_test", "epoch_val"):
        print(f"{key}, mean over runs:", " ".join(f"{v:.3f}" for v in np.mean([ln[key] for ln in lines], 0)))
    rho = [spearmanr(ln["epoch_val"], ln["epoch_test"])[0] for ln in lines]
    print(f"Spearman(validation, test) over a run's epochs: mean {np.mean(rho):.2f}, "
          f"below -0.5 in {sum(r < -0.5 for r in rho)} of {len(rho)} runs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root")
    ap.add_argument("--summary", action="store_true", help="only summarise the ledger given as --out")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.summary:
        summarise(args.out)
        return
    if not args.data_root:
        ap.error("--data-root is needed to train")
    torch.set_num_threads(1)
    data = load_dataset("fashion-mnist", args.data_root, download=False)
    for seed in map(int, args.seeds.split(",")):
        for c in map(int, args.classes.split(",")):
            line = run(data, c, seed)
            print(json.dumps({k: line[k] for k in ("class", "seed", "selected_test")}),
                  {k: v for k, v in line.items() if k.startswith(("snap", "swa"))}, flush=True)
            with open(args.out, "a") as f:
                f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
