"""Every method on the generated defects data set (`oneclass data make-defects`), MVTec AD's protocol: train on
`train/good/`, image AUROC of every score on `test/`, and for methods with maps pixel AUROC and PRO (30 % FPR).
One JSON line per (method, category, seed), appended to --out; cells already there are skipped, so a stopped run
resumes, and two runs with the categories in opposite orders share the work (the ledger is read again before
each cell). The data set is generated under --data (seed 0) when absent.

    python benchmarks/defects.py --out results/defects.jsonl [--methods ae,cae] [--size 64]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from oneclass import create
from oneclass.data.defects import CATEGORIES, make_defects
from oneclass.data.mvtec import read_category
from oneclass.evaluation import evaluate_category
from oneclass.settings import parse_sets

#: the quick methods with maps first, the slow ones (at 128×128 on one core: 4–20 min a category) last
METHODS = "knn_geom,ae,vae,cae,ocsvm,adacl,alocc,ada,dsvdd,g2d,oled"


def finished(out: Path) -> set[tuple]:
    """The cells already in the ledger: (method, category, seed, side, overrides)."""
    if not out.exists():
        return set()
    return {(r["method"], r["category"], r["seed"], r["size"][0], json.dumps(r.get("overrides", {}), sort_keys=True))
            for r in map(json.loads, out.read_text().splitlines())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--data", default="data-cache/defects", help="the generated data set (made when absent)")
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--categories", default=",".join(CATEGORIES))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--size", type=int, default=128, help="the side the images are read at")
    parser.add_argument("--preset", default="fast", choices=("fast", "paper"))
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE over the preset, every method")
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()
    data = Path(args.data)
    if not data.exists():
        make_defects(data, seed=0)
    out = Path(args.out)
    overrides = parse_sets(args.set)
    for category_name in args.categories.split(","):
        category = read_category(data / category_name, size=(args.size, args.size))
        for method in args.methods.split(","):
            for seed in map(int, args.seeds.split(",")):
                key = (method, category_name, seed, args.size, json.dumps(overrides, sort_keys=True))
                if key in finished(out):
                    continue
                det = create(method, preset=args.preset, **overrides, seed=seed, precision=args.precision)
                start = time.perf_counter()
                line = evaluate_category(det, category)
                line |= {"preset": args.preset, "overrides": overrides, "wall_seconds": round(time.perf_counter() - start, 1)}
                with out.open("a") as f:
                    f.write(json.dumps(line) + "\n")
                print(f"{method:9s} {category_name:6s} seed {seed}: image AUROC {line['image_auroc'][line['default_score']]:.3f}"
                      f" pixel AUROC {line.get('pixel_auroc', float('nan')):.3f} PRO {line.get('pro', float('nan')):.3f}"
                      f" ({line['wall_seconds']} s)", flush=True)


if __name__ == "__main__":
    main()
