"""OLED's MNIST regression cell (memae protocol, class 1, fast preset, seed 0) with TopK's own tie order in the
threshold unit, as before issue 48: shows that the refactor changed that cell through the tie rule alone.

    OMP_NUM_THREADS=1 python benchmarks/oled_topk_ties.py --data-root ../shared/data \
        --out results/refactor-48-oled-topk-ties-fp32-1thread.jsonl

An ablation: it swaps `oneclass.methods.oled.threshold_unit` for a version whose hard mask hides TopK's indices.
"""

from __future__ import annotations

import argparse

import torch

from oneclass.bench import ResultsFile, make_cells, run_cell
from oneclass.methods import oled


def topk_ties(activations: torch.Tensor, n_masked: int, epsilon: float, gradient: str = "eq2") -> torch.Tensor:
    """The threshold unit before issue 48: the hidden pixels are TopK's indices, however it breaks ties."""
    flat = activations.flatten(1)
    top = flat.topk(n_masked, dim=1)
    hard = torch.ones_like(flat).scatter_(1, top.indices, 0.0)
    if gradient == "straight-through":
        surrogate = -flat
    else:
        gap = torch.nn.functional.relu(top.values[:, -1:] - flat)
        surrogate = gap / (gap + epsilon)
    return (surrogate + (hard - surrogate).detach()).view_as(activations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    oled.threshold_unit = topk_ties
    cell = make_cells(["oled"], "mnist", "memae", [1], [0], "fast", {"precision": "fp32"})[0]
    line = run_cell(cell, args.data_root)
    ResultsFile(args.out).append(line)
    print(line["auroc"])


if __name__ == "__main__":
    main()
