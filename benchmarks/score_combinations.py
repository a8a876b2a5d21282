"""Does combining our detectors beat ADACL on Fashion-MNIST (issue 26: the library's best mean ≥ 0.940, with the
choice made on validation data)?

`train`: for each class (one-vs-rest, seed 0), 600 training normals are held out; `adacl` (paper preset), `ae`
(default) and `dsvdd` (fast preset) train on the rest (fp32), and every score of each is kept for the test set,
the held-out normals and ADACL's created anomalies of them (`<dir>/c<class>_s<seed>.npz`, not committed).
`summarise`: for every score and every combination of two to four of them, the test AUROC per class and the
validation AUROC (held-out normals against their created anomalies: no test labels, no real anomalies). A
combination standardises each score on the held-out normals, as a z-score (`z:`) or as −log of its upper
tail among them (`p:`), and sums. One JSON line per (score or combination, class).

`adacl-swa` is ADACL with `weight_average=True` (the mean of its epochs' weights); `adacl-m1`, `adacl-m2`, ... are
ADACL again with other seeds (`seed + 1000·k`: another initialisation, batch order and 150 internal validation
images), and `summarise` adds `adacl-ens3` and `adacl-ens5`, the mean output of `adacl` and its first two or four
members (a seed ensemble, as `members` in ADACL). Because ADACL's own validation anomalies favour ADACL (it trains
on their kinds), the held-out normals also get anomalies of kinds that no detector here trains on (`reshaped` from
`adacl_epochs.py`: stretched, squashed or thickened), and each line carries their AUROC too (`val_unseen_auroc`)
and that of the held-out normals against both kinds together (`val_all_auroc`: every anomaly we can make without
labels). The rule, fixed before the full run: the library's best score is the one with the highest mean
`val_all_auroc` over the runs; `summarise` prints which it is.

`ocsvm-g<k>` is `ocsvm` with the RBF kernel's γ = 2^-k (k = -2 ... 10; `ocsvm` itself uses scikit-learn's
"scale"). Its width is chosen in two steps, both on validation data, and `summarise` makes both: the `ocsvm-g<k>`
alone with the highest mean `val_all_auroc` (γ = 1, `ocsvm-g0`, in the committed runs) joins the scores that are
combined (COMBINED); the rule above then picks among all scores and combinations. With `--ocsvm-width per-run`,
step 1 chooses for each class and seed on its own validation data (the score `ocsvm-gsel.svm`), fixed before it ran.

    python benchmarks/score_combinations.py train --data-root ../shared/data --dir runs/score-combinations
    python benchmarks/score_combinations.py summarise --dir runs/score-combinations \
        --out results/score-combinations.jsonl
    python benchmarks/score_combinations.py train --methods adacl,adacl-swa,ae --data-root ../shared/data \
        --dir runs/score-combinations-unseen
    python benchmarks/score_combinations.py summarise --dir runs/score-combinations-unseen \
        --out results/score-combinations-unseen.jsonl
    python benchmarks/score_combinations.py train --methods adacl,adacl-m1,adacl-m2,adacl-m3,adacl-m4,ae \
        --data-root ../shared/data --dir runs/score-ensembles
    python benchmarks/score_combinations.py train --methods ocsvm,ocsvm-g-2,ocsvm-g-1,ocsvm-g0,...,ocsvm-g10 \
        --data-root ../shared/data --dir runs/score-ensembles  # adds to the scores already there
    python benchmarks/score_combinations.py summarise --dir runs/score-ensembles --out results/score-ensembles.jsonl
    python benchmarks/score_combinations.py summarise --dir runs/score-ensembles --ocsvm-width per-run \
        --out results/score-ensembles-per-run-width.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import time
from pathlib import Path

import numpy as np
import torch
from adacl_epochs import reshaped  # benchmarks/, the script folder, is on sys.path

import oneclass
from oneclass.bench.grid import Cell
from oneclass.data.catalog import load_dataset
from oneclass.data.protocols import make_split
from oneclass.methods.adacl import member_seed
from oneclass.metrics import auroc

HELD_OUT = 600
COMBINED = ("adacl.regression", "adacl-swa.regression", "adacl-ens3.regression", "adacl-ens5.regression", "ae.rec",
            "ae.rec_norm", "dsvdd.distance")  # and the `ocsvm-g<k>` that step 1 chooses
VARIANTS = {"adacl-swa": ("adacl", {"weight_average": True}),  # name: (method, options)
            **{f"ocsvm-g{k}": ("ocsvm", {"gamma": 2.0 ** -k}) for k in range(-2, 11)}}
ENSEMBLES = (3, 5)


def variant(name: str, seed: int) -> tuple[str, dict]:
    """The method and options a name in `--methods` trains: a method, a VARIANTS entry or a seed member `adacl-m<k>`."""
    member = re.fullmatch(r"adacl-m(\d+)", name)
    if member:
        return "adacl", {"seed": member_seed(seed, int(member[1]))}
    return VARIANTS.get(name, (name, {}))


def train(data_root: str, folder: Path, seed: int, classes: list[int], methods: list[str]) -> None:
    data = load_dataset("fashion-mnist", data_root, download=False)
    folder.mkdir(parents=True, exist_ok=True)
    for c in classes:
        split = make_split("one-vs-rest", data, c, seed=seed)
        order = np.random.default_rng(1000 + seed).permutation(len(split.x_train))
        held, rest = split.x_train[order[:HELD_OUT]], split.x_train[order[HELD_OUT:]]
        held_01 = torch.from_numpy(held).float().div(255)[:, None]
        created = _as_images(oneclass.create("adacl").create_anomalies(held_01, torch.Generator().manual_seed(seed)))
        unseen = _as_images(reshaped(held_01, torch.Generator().manual_seed(seed + 3)))
        path = folder / f"c{c}_s{seed}.npz"
        out = {**(dict(np.load(path)) if path.exists() else {}), "y_test": split.y_test}  # add to earlier methods
        for m in methods:
            method, options = variant(m, seed)
            params, _ = Cell(method, "fashion-mnist", "one-vs-rest", c, seed, "fast" if m == "dsvdd" else "paper",
                             {}).settings()
            det = oneclass.create(method, **{**params, **options, "precision": "fp32"})
            t = time.time()
            det.fit(rest)
            for name, x in (("test", split.x_test), ("held", held), ("aug", created), ("unseen", unseen)):
                for k, v in det.score(x).items():
                    out[f"{m}.{k}.{name}"] = np.asarray(v)
            print(c, m, f"fit {time.time() - t:.0f} s", flush=True)
        np.savez_compressed(path, **out)


def _as_images(x: torch.Tensor) -> np.ndarray:
    """(n, 1, H, W) floats in [0, 1] back to (n, H, W) uint8 images, as the detectors take the held-out ones."""
    return x.mul(255).round().clamp(0, 255).to(torch.uint8)[:, 0].numpy()


def _z(score: dict, part: str) -> np.ndarray:
    held = score["held"]
    return (score[part] - held.mean()) / held.std()


def _tail(score: dict, part: str) -> np.ndarray:
    held = np.sort(score["held"])
    return -np.log1p(-np.searchsorted(held, score[part], side="right") / (len(held) + 1))


def _val_all(score: dict) -> float:
    """AUROC of the held-out normals against both kinds of validation anomaly: the number the rules choose by."""
    return auroc(np.r_[np.zeros(HELD_OUT), np.ones(2 * HELD_OUT)], np.r_[score["held"], score["aug"], score["unseen"]])


def summarise(folder: Path, out_path: Path, width_rule: str = "global") -> None:
    lines = []
    runs = []
    for path in sorted(folder.glob("c*_s*.npz")):
        d = dict(np.load(path))
        c, seed = (int(v) for v in path.stem[1:].split("_s"))
        parts = [p for p in ("test", "held", "aug", "unseen") if any(k.endswith(f".{p}") for k in d)]
        rows = {k: {p: d[f"{k}.{p}"] for p in parts} for k in sorted({k.rsplit(".", 1)[0] for k in d if k.count(".") == 2})}
        for size in ENSEMBLES:
            members = ["adacl.regression"] + [f"adacl-m{k}.regression" for k in range(1, size)]
            if all(m in rows for m in members):
                rows[f"adacl-ens{size}.regression"] = {p: np.mean([rows[m][p] for m in members], axis=0) for p in parts}
        runs.append((c, seed, d["y_test"], parts, rows))
    widths = sorted({k for *_, rows in runs for k in rows if k.startswith("ocsvm-g")})
    if width_rule == "per-run" and widths:  # step 1, per class and seed
        width = "ocsvm-gsel.svm"
        chosen = [max(widths, key=lambda k: _val_all(rows[k])) for *_, rows in runs]
        for (*_, rows), k in zip(runs, chosen, strict=True):
            rows[width] = rows[k]
        print("ocsvm width chosen by val_all_auroc, per run:",
              " ".join(f"c{c}s{seed}:{k}" for (c, seed, *_), k in zip(runs, chosen, strict=True)))
    else:  # step 1, one width for all runs
        width = max(widths, key=lambda k: np.mean([_val_all(rows[k]) for *_, rows in runs]), default=None)
        if width:
            print(f"ocsvm width chosen by val_all_auroc: {width}")
    y_val = np.r_[np.zeros(HELD_OUT), np.ones(HELD_OUT)]
    for c, seed, y_test, parts, rows in runs:
        present = [k for k in (*COMBINED, width) if k in rows]
        for r in range(2, len(present) + 1):
            for combo in itertools.combinations(present, r):
                for tag, fn in (("z", _z), ("p", _tail)):
                    rows[f"{tag}:" + "+".join(combo)] = {p: sum(fn(rows[k], p) for k in combo) for p in parts}
        for name, s in rows.items():
            line = {"dataset": "fashion-mnist", "protocol": "one-vs-rest", "normal_class": c, "seed": seed,
                    "score": name, "test_auroc": round(auroc(y_test, s["test"]), 5),
                    "val_auroc": round(auroc(y_val, np.r_[s["held"], s["aug"]]), 5)}
            if "unseen" in s:
                line["val_unseen_auroc"] = round(auroc(y_val, np.r_[s["held"], s["unseen"]]), 5)
                line["val_all_auroc"] = round(_val_all(s), 5)
            lines.append({**line, "held_out": HELD_OUT, "precision": "fp32"})
    out_path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    means = {}
    keys = ("test_auroc", "val_auroc", "val_unseen_auroc", "val_all_auroc")
    for name in sorted({line["score"] for line in lines}):
        mine = [line for line in lines if line["score"] == name]
        means[name] = {k: float(np.mean([m[k] for m in mine])) for k in keys if k in mine[0]}
        print(f"{name:70s} " + " ".join(f"{k} {v:.4f}" for k, v in means[name].items()) + f" ({len(mine)} runs)")
    if all("val_all_auroc" in m for m in means.values()):
        best = max(means, key=lambda n: means[n]["val_all_auroc"])
        print(f"chosen by val_all_auroc: {best} (test {means[best]['test_auroc']:.4f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("train", "summarise"))
    parser.add_argument("--data-root")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--methods", default="adacl,ae,dsvdd")
    parser.add_argument("--ocsvm-width", choices=("global", "per-run"), default="global",
                        help="step 1: one width for all runs, or each run's own (summarise)")
    args = parser.parse_args()
    if args.action == "train":
        train(args.data_root, args.dir, args.seed, [int(c) for c in args.classes.split(",")], args.methods.split(","))
    else:
        summarise(args.dir, args.out, args.ocsvm_width)


if __name__ == "__main__":
    main()
