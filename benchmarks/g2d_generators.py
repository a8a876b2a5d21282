"""G2D's generators over training, as a small report: the loss curve and its bands (the paper's Figure 4), samples
of the selected generators, and real against generated images in t-SNE at several epochs (Figure 1).

Trains G2D on one MNIST digit with the outlier-ratio protocol's training set, then:
- I's loss L_I per epoch and L = L_I(i) − L_I(i + h), with the far / boundary bands and the chosen epochs;
- ten samples of every chosen generator and of the last one, beside real images;
- t-SNE of 300 real training images (red) and 300 samples (blue) of four generators: the first and last far
  ones, the last boundary one, and the last epoch's;
- D's mean P(irregular) on each generator's samples, and the AUROC of each score on the 50 % test set.

    python benchmarks/g2d_generators.py --data-root ../shared/data --out results/g2d-generators [--preset fast|paper]
"""

from __future__ import annotations

import argparse
import json
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402

from oneclass.bench.grid import Cell, prepare  # noqa: E402
from oneclass.metrics import auroc  # noqa: E402
from oneclass.report.figures import image_grid  # noqa: E402
from oneclass.report.write import Report  # noqa: E402
from oneclass.runtime import PRECISIONS  # noqa: E402


def loss_figure(info: dict, h: int, epsilons: tuple[float, float, float]) -> plt.Figure:
    losses, diffs = np.array(info["gan_loss"]), np.array(info["loss_differences"])
    epochs = np.arange(1, len(losses) + 1)
    scale = np.abs(diffs).max()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 4.6), sharex=True)
    top.plot(epochs, losses, color="k", lw=1)
    top.set_ylabel("L_I (critic's W estimate)")
    bottom.plot(epochs[:len(diffs)], diffs / scale, color="k", lw=1)
    for eps, style in zip(epsilons, (":", "--", "-."), strict=True):
        bottom.axhline(eps, color="grey", ls=style, lw=0.8)
    bottom.axhline(-epsilons[0], color="grey", ls=":", lw=0.8)
    bottom.set(xlabel="epoch i", ylabel=f"L(i) / max|L|, h = {h}")
    for band, color in (("far", "tab:red"), ("boundary", "tab:blue")):
        chosen = np.array(info["selected_epochs"][band], dtype=int)
        if len(chosen):
            top.scatter(chosen, losses[chosen - 1], color=color, zorder=3, label=band)
            bottom.scatter(chosen, diffs[chosen - 1] / scale, color=color, zorder=3)
    top.legend(fontsize=8)
    fig.tight_layout()
    return fig


def tsne_figure(real: np.ndarray, samples: dict[int, np.ndarray], seed: int) -> plt.Figure:
    fig, axes = plt.subplots(1, len(samples), figsize=(3.0 * len(samples), 3.0), squeeze=False)
    for ax, (epoch, fake) in zip(axes[0], samples.items(), strict=True):
        points = np.concatenate([real.reshape(len(real), -1), fake.reshape(len(fake), -1)])
        xy = TSNE(init="pca", perplexity=30, random_state=seed).fit_transform(points)
        ax.scatter(*xy[:len(real)].T, s=3, color="tab:red", label="real")
        ax.scatter(*xy[len(real):].T, s=3, color="tab:blue", label="generated")
        ax.set(title=f"epoch {epoch}", xticks=[], yticks=[])
    axes[0][0].legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--digit", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="fast", choices=["paper", "fast"])
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="training precision")
    parser.add_argument("--out", default="results/g2d-generators")
    args = parser.parse_args()

    cell = Cell("g2d", "mnist", "outlier-ratio", args.digit, args.seed, args.preset, {"precision": args.precision})
    params, _ = cell.settings()
    det, split = prepare(cell, args.data_root)
    start = time.perf_counter()
    det.fit(split.x_train)
    fit_s = time.perf_counter() - start
    info = det.fit_info_
    test_auroc = {k: auroc(split.y_test, v) for k, v in det.score(split.x_test).items()}
    far, boundary, last = info["selected_epochs"]["far"], info["selected_epochs"]["boundary"], info["snapshots"]

    report = Report(f"G2D on MNIST digit {args.digit}: the irregularity generators")
    report.paragraph(f"Preset `{args.preset}`: {json.dumps({k: v for k, v in params.items() if k != 'seed'})}; seed "
                     f"{args.seed}; {len(split.x_train)} training images of digit {args.digit}; {last} GAN epochs; "
                     f"far generators {far}, boundary generators {boundary}; D trained on {info['n_normal']} normal "
                     f"and {info['n_generated']} generated images ({info['m']} per generator); fit {fit_s / 60:.1f} min.")
    report.heading("AUROC on the outlier-ratio protocol's 50 % test set")
    report.table(["score", "AUROC"], [[k, f"{v:.4f}"] for k, v in test_auroc.items()])

    report.heading("Figure 4: I's loss and the selection bands")
    report.figure("g2d-loss", loss_figure(info, det.h, (det.epsilon1, det.epsilon2, det.epsilon3)),
                  "Top: L_I per epoch (eq. 3). Bottom: L(i) = L_I(i) − L_I(i + h) over its largest magnitude, with "
                  "ε1 (dotted, and −ε1), ε2 (dashed) and ε3 (dash-dot). Red: chosen far generators; blue: boundary.")

    shown = [*far, *boundary, last]
    samples = {e: det.generate(300, e, seed=args.seed) for e in shown}
    real = split.x_train[:300] / 255.0
    rows = [("real", real[:10])] + [(f"epoch {e}", samples[e][:10, 0]) for e in shown]
    report.heading("Samples of the chosen generators")
    report.figure("g2d-samples", image_grid(rows), "Ten real training images, then ten samples of each chosen "
                  "generator (far, then boundary) and of the last epoch's, which is not used.")
    p_irregular = {e: float(det.score(samples[e]).default.mean()) for e in shown}
    report.table(["epoch", "band", "D's mean P(irregular) on its samples"],
                 [[e, "far" if e in far else "boundary" if e in boundary else "last (unused)", f"{p_irregular[e]:.4f}"]
                  for e in shown])

    picked = dict.fromkeys([far[0], far[-1], boundary[-1] if boundary else far[-1], last])
    report.heading("Figure 1: real and generated images in t-SNE")
    report.figure("g2d-tsne", tsne_figure(real, {e: samples[e] for e in picked}, args.seed),
                  "t-SNE of 300 real images of the digit (red) with 300 samples (blue) of the generator of each "
                  "epoch; each panel is its own embedding.")
    md, _ = report.write(args.out)
    (md.parent / "g2d-generators.json").write_text(json.dumps(
        {"digit": args.digit, "seed": args.seed, "preset": args.preset, "params": params, "test_auroc": test_auroc,
         "p_irregular_of_samples": p_irregular, "fit_seconds": round(fit_s, 1), "fit_info": info},
        indent=2, default=str) + "\n")
    print(f"AUROC {json.dumps({k: round(v, 4) for k, v in test_auroc.items()})}; report: {md}")


if __name__ == "__main__":
    main()
