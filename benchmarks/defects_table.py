"""The tables of docs/results.md's defects section from the ledger `benchmarks/defects.py` writes: per category and
method the image AUROC of the default score and of the map's maximum, pixel AUROC, PRO and fit time; then per
category the methods that meet issue 49's targets (pixel AUROC ≥ 0.90 and image AUROC ≥ 0.95, the better of a
method's default score and its map's maximum), else the best image and the best pixel AUROC.

    python benchmarks/defects_table.py results/defects.jsonl
"""

from __future__ import annotations

import json
import sys

from defects import METHODS  # the bench's order: the quick methods with maps first


def cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def main(path: str) -> None:
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    categories = list(dict.fromkeys(r["category"] for r in rows))
    print("| method | " + " | ".join(categories) + " | fit s (mean) |")
    print("|---|" + "---|" * (len(categories) + 1))
    order = METHODS.split(",")
    methods = sorted(dict.fromkeys(r["method"] for r in rows), key=lambda m: order.index(m) if m in order else len(order))
    for method in methods:
        mine = {r["category"]: r for r in rows if r["method"] == method}
        cells = []
        for c in categories:
            r = mine.get(c)
            if r is None:
                cells.append("not run")
                continue
            image = r["image_auroc"]
            cells.append(f"{cell(image[r['default_score']])} / {cell(image.get('map_max'))} / "
                         f"{cell(r.get('pixel_auroc'))} / {cell(r.get('pro'))}")
        fit = sum(r["fit_seconds"] for r in mine.values()) / len(mine)
        print(f"| `{method}` | " + " | ".join(cells) + f" | {fit:.0f} |")
    print("\nimage AUROC (default score) / image AUROC (map maximum) / pixel AUROC / PRO to 30 % FPR\n")
    for c in categories:
        mine = [r for r in rows if r["category"] == c]
        image = {r["method"]: max(r["image_auroc"].items(), key=lambda kv: kv[1]) for r in mine}
        met = [r for r in mine if image[r["method"]][1] >= 0.95 and (r.get("pixel_auroc") or 0) >= 0.90]
        if met:
            print(f"- {c}: targets met by " + ", ".join(
                f"`{r['method']}` (image {image[r['method']][1]:.3f} by {image[r['method']][0]}, pixel "
                f"{r['pixel_auroc']:.3f})" for r in met))
            continue
        best = max(mine, key=lambda r: image[r["method"]][1])
        pixel = max((r for r in mine if r.get("pixel_auroc") is not None), key=lambda r: r["pixel_auroc"])
        print(f"- {c}: targets missed; best image AUROC {image[best['method']][1]:.3f} (`{best['method']}`, "
              f"{image[best['method']][0]}; its pixel AUROC {cell(best.get('pixel_auroc'))}), best pixel AUROC "
              f"{pixel['pixel_auroc']:.3f} (`{pixel['method']}`)")


if __name__ == "__main__":
    main(sys.argv[1])
