"""How long training takes at each preset, for the README and `--help`: every method on 1,000 Fashion-MNIST
training images of class 0 (28×28 grey), fp32. The fast preset (the defaults) is trained to the end; the paper
preset for `--paper-epochs` epochs of each phase, its full time then estimated from the time per epoch (stated as
an estimate in the line). One JSON line per (method, preset), appended to --out; those there are skipped.

    OMP_NUM_THREADS=1 python benchmarks/preset_times.py --data-root ../shared/data --out results/preset-times.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import oneclass
from oneclass.bench.harness import harness
from oneclass.bench.provenance import git_commit
from oneclass.data.catalog import load_dataset
from oneclass.registry import detector_class


def epoch_params(method: str) -> list[str]:
    """The method's hyper-parameters that count epochs of a training phase."""
    return [p for p in detector_class(method).param_names() if p == "epochs" or p.endswith("_epochs")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--out", required=True)
    parser.add_argument("--methods", default=",".join(sorted(oneclass.available())))
    parser.add_argument("--paper-epochs", type=int, default=2)
    args = parser.parse_args()
    data = load_dataset("fashion-mnist", args.data_root)
    x = data["x_train"][data["y_train"] == 0][:1000]
    done = set()
    if Path(args.out).exists():
        done = {(r["method"], r["preset"]) for r in map(json.loads, Path(args.out).read_text().splitlines())}
    for method in args.methods.split(","):
        for preset in ("fast", "paper"):
            if (method, preset) in done:
                continue
            params = {"precision": "fp32", "calibration": 0.0, "seed": 0}
            full = oneclass.create(method, preset=preset).get_params()
            phases = {p: full[p] for p in epoch_params(method) if isinstance(full[p], int)}
            if preset == "paper":
                if not harness(method).presets.get("paper"):
                    continue  # the same as fast
                params |= {p: min(n, args.paper_epochs) for p, n in phases.items()}
                if "h" in full:  # G2D needs more GAN epochs than its horizon h
                    params["epochs"] = min(full["epochs"], max(params["epochs"], full["h"] + 1))
            det = oneclass.create(method, preset=preset, **params)
            start = time.perf_counter()
            det.fit(x)
            seconds = time.perf_counter() - start
            ran = {p: det.get_params()[p] for p in phases}
            # every phase scaled by its own epochs (Deep SVDD's pretraining and training are about equal per epoch)
            estimate = seconds * sum(phases.values()) / max(1, sum(ran.values())) if phases else seconds
            line = {"method": method, "preset": preset, "n_images": len(x), "shape": [1, 28, 28],
                    "threads": torch.get_num_threads(), "epochs": phases, "epochs_run": ran,
                    "seconds_run": round(seconds, 1), "seconds_full": round(estimate, 1),
                    "estimated": ran != phases, "commit": git_commit()}
            with Path(args.out).open("a") as f:
                f.write(json.dumps(line) + "\n")
            print(f"{method:9s} {preset:5s} {seconds:7.1f} s for {ran}; full {estimate:8.1f} s"
                  f"{' (estimated)' if line['estimated'] else ''}", flush=True)


if __name__ == "__main__":
    main()
