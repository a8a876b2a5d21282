"""ALOCC's discriminator score, chosen without test labels (issue 51): the paper's D, an average of D (EMA), and
OGNet's second phase (Zaheer et al., CVPR 2020), which fine-tunes D on good and bad reconstructions.

For each normal class and seed this trains ALOCC once (the fast preset, fp32, `d_average=0.99` so that D and its
average are both at hand; the average does not change training) on the training normals less 150 held out, keeping
R after epochs 1, 3 and 5 as "old" reconstructors. It then scores D(R(X)) with D and with its average, and, from
copies of the trained D and average, after each second-phase variant: OGNet's bad reconstructions (old epoch 1, 3
or 5 × 1 or 3 phase-two epochs, learning rate 2e-4) and ours, R's reconstructions of created anomalies
(`phase_two_bad="created"`: 1, 3, 6 or 10 epochs at learning rate 2e-4, 1 or 3 at 2e-3; the 6 and 10 were added
after the first seed showed the score still rising at 3).
Each variant is scored on three validation sets built from the 150 held-out normals, never from test images: one
created anomaly of each (ADACL's cut-paste, puzzle, rotation and mix-up, three of them the kinds "created" trains
on), one mix-up of each, and one reshaped copy (stretched or squashed across, or thickened:
`adacl_epochs.reshaped`); no variant trains on the last two. The rule, fixed before the runs: the variant with the
highest mean over the runs of the mean AUROC on the mix-up and reshaped sets becomes the default; test AUROC is
only reported.

    python benchmarks/alocc_phase_two.py --data-root ../shared/data --dataset fashion-mnist --classes 0 \\
        --seeds 0,1,2,3,4 --out results/alocc-phase-two.jsonl
    python benchmarks/alocc_phase_two.py --summary --out results/alocc-phase-two.jsonl
"""

from __future__ import annotations

import copy
import json
import time

import numpy as np
import torch
from held_out_validation import held_out_split, run_grid

import oneclass
from oneclass.metrics import auroc
from oneclass.training import EveryEpoch, Run

OLD_EPOCHS = (1, 3, 5)
#: (bad reconstructions, old epoch, learning rate, the phase-two epochs after which D is scored): one run of the
#: longest, scored along the way, is the same as a run of each length (constant learning rate, the same draws)
VARIANTS = ([("old", old, 0.0002, (1, 3)) for old in OLD_EPOCHS]
            + [("created", 1, 0.0002, (1, 3, 6, 10)), ("created", 1, 0.002, (1, 3))])


def d_scores(det, sets: dict[str, tuple[torch.Tensor, np.ndarray]]) -> dict[str, float]:
    """AUROC of `d_rx` on each named (images, labels) set, with the detector's scoring discriminator."""
    return {name: round(auroc(y, det.score(x)["d_rx"]), 5) for name, (x, y) in sets.items()}


def with_paper_d(det, sets) -> dict[str, float]:
    """The same with D itself instead of its average."""
    net = det.net_
    average, net.discriminator_average = net.discriminator_average, None
    try:
        return d_scores(det, sets)
    finally:
        net.discriminator_average = average


def run(data, dataset: str, c: int, seed: int) -> dict:
    split, train, images_of, labels = held_out_split(data, dataset, c, seed)
    sets = {k: (v, split.y_test if k == "test" else labels) for k, v in images_of.items()}
    det = oneclass.create("alocc", preset="fast", precision="fp32", seed=seed, d_average=0.99, phase_two_epochs=0,
                          calibration=0.0)  # the first phase only: the variants below add the second
    olds = {}

    def keep(epoch):
        if epoch in OLD_EPOCHS:
            olds[epoch] = copy.deepcopy(det.net_.reconstructor).eval()

    t = time.time()
    det.fit(train, callbacks=[EveryEpoch(keep)])
    line = {"dataset": dataset, "class": c, "seed": seed, "fit_seconds": round(time.time() - t, 1),
            "variants": {"paper_d": with_paper_d(det, sets), "ema": d_scores(det, sets)}}
    trained = copy.deepcopy(det.net_.state_dict())
    images = det.network_input(train)
    det._run = Run(det.torch_device, identity=det.get_params(), name=det.name)  # what `fit` sets up for `_phase_two`
    for bad, old, lr, stops in VARIANTS:
        det.net_.load_state_dict(trained)
        det.set_params(phase_two_bad=bad)
        t = time.time()

        def score(epoch: int, history: dict, stops=stops, prefix=f"old{old}" if bad == "old" else "created", lr=lr,
                  t=t) -> None:
            if epoch in stops:
                name = f"{prefix}_e{epoch}_lr{lr:g}"
                line["variants"][f"{name}_d"] = {**with_paper_d(det, sets), "loss": history["d"][-1],
                                                "seconds": round(time.time() - t, 1)}
                line["variants"][f"{name}_ema"] = d_scores(det, sets)

        det._phase_two(images, olds[old], torch.Generator().manual_seed(seed + 4), epochs=max(stops), lr=lr,
                       end_epoch=score)
    return line


def summarise(path: str) -> None:
    lines = [json.loads(s) for s in open(path)]
    groups = {dataset: [ln for ln in lines if ln["dataset"] == dataset] for dataset in sorted({ln["dataset"] for ln in lines})}
    groups["all runs (the rule)"] = lines
    for title, runs in groups.items():
        print(f"{title}: {len(runs)} runs (classes {sorted({ln['class'] for ln in runs})})")
        rows = []
        for name in runs[0]["variants"]:
            val = [(ln["variants"][name]["val_mixup"] + ln["variants"][name]["val_reshaped"]) / 2 for ln in runs]
            test = [ln["variants"][name]["test"] for ln in runs]
            rows.append((np.mean(val), name, np.std(val), np.mean(test), np.std(test)))
        print(f"  {'variant':28s} validation (mean ± sd)   test (mean ± sd)")
        for val, name, val_sd, test, test_sd in sorted(rows, reverse=True):
            print(f"  {name:28s} {val:.4f} ± {val_sd:.4f}        {test:.4f} ± {test_sd:.4f}")


def main() -> None:
    run_grid(__doc__.splitlines()[0], run, summarise, "fashion-mnist", "0,1,2,3,4")


if __name__ == "__main__":
    main()
