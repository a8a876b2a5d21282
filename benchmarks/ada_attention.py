"""ADA's discriminator attention over training, as a small report: class activation maps on the same inputs at
several epochs (the paper's Figure 4 stages) and the final maps beside the reconstruction error (Figures 1, 2).

Trains ADA on one digit of the noisy-mnist protocol (optionally with a known anomaly digit, Figure 5), then:
- c = CAM(x) + CAM(x̂) over six normal and six anomalous test images at evenly spaced epochs, over the inputs;
- for the same images at the end: input, reconstruction x̂, |x − x̂|, c, and the anomaly map c/rms(c) ⊙ |x − x̂|;
- the AUROC of every score on the test set, and the training losses per epoch;
- where the attention lies (issue 51), after every epoch: the share of c's mass inside the digit's box, over 50
  normal and 50 anomalous test digits drawn as the protocol draws them, against the box's share of the canvas (what
  an attention spread evenly would give). The boxes come from rendering the same digits at the same sizes and
  places without noise (the ink's bounding box).

    python benchmarks/ada_attention.py --data-root ../shared/data --out results/ada-attention [--known-class 1] \
        [--size-range 56,84] [--set fake_texture=true]
"""

from __future__ import annotations

import argparse
import json
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from oneclass.bench.grid import Cell, prepare  # noqa: E402
from oneclass.data.catalog import load_dataset  # noqa: E402
from oneclass.data.synthetic import noisy_canvases  # noqa: E402
from oneclass.metrics import auroc  # noqa: E402
from oneclass.report.figures import image_grid  # noqa: E402
from oneclass.report.write import Report  # noqa: E402
from oneclass.runtime import PRECISIONS  # noqa: E402
from oneclass.settings import parse_sets  # noqa: E402
from oneclass.training import EveryEpoch  # noqa: E402


def overlay_grid(images: np.ndarray, maps: dict[int, np.ndarray], titles: list[str]) -> plt.Figure:
    """Rows: epochs; columns: images (grey) with their attention map (each scaled to its own maximum) on top."""
    fig, axes = plt.subplots(len(maps), len(images), figsize=(1.1 * len(images) + 0.8, 1.15 * len(maps)),
                             squeeze=False)
    for r, (epoch, cams) in enumerate(maps.items()):
        for c, (img, cam) in enumerate(zip(images, cams, strict=True)):
            ax = axes[r][c]
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
            ax.imshow(cam / cam.max() if cam.max() > 0 else cam, cmap="jet", alpha=0.45, vmin=0, vmax=1)
            ax.set(xticks=[], yticks=[])
            if r == 0:
                ax.set_title(titles[c], fontsize=7)
        axes[r][0].set_ylabel(f"epoch {epoch}", fontsize=8, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def loss_figure(history: dict[str, list[float]]) -> plt.Figure:
    fig, axes = plt.subplots(1, len(history), figsize=(2.6 * len(history), 2.4), squeeze=False)
    for ax, (name, values) in zip(axes[0], history.items(), strict=True):
        ax.plot(np.arange(1, len(values) + 1), values, color="k", lw=1)
        ax.set(title=name, xlabel="epoch")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def digits_with_boxes(data_root: str | None, digit: int, size_range: tuple[int, int], seed: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """50 test images of `digit` and 50 of the other digits on noisy canvases, their labels (1 = anomalous) and the
    boxes of their ink (n, H, W), from a second rendering with the same draws of size and place but no noise."""
    data = load_dataset("mnist", data_root, download=False)
    rng = np.random.default_rng(seed + 100)
    idx = np.r_[rng.choice(np.flatnonzero(data["y_test"] == digit), 50, replace=False),
                rng.choice(np.flatnonzero(data["y_test"] != digit), 50, replace=False)]
    digits = data["x_test"][idx]
    noisy = noisy_canvases(digits, np.random.default_rng(seed + 101), size_range=size_range)
    clean = noisy_canvases(digits, np.random.default_rng(seed + 101), size_range=size_range, sigma_mean=0.0, sigma_std=0.0)
    boxes = np.zeros(clean.shape, bool)
    for i, img in enumerate(clean > 0):
        rows, cols = np.flatnonzero(img.any(1)), np.flatnonzero(img.any(0))
        boxes[i, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = True
    return noisy, np.r_[np.zeros(50, np.int64), np.ones(50, np.int64)], boxes


def mass_in_boxes(cams: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per image, the share of the attention's (positive) mass that falls inside the box; NaN where c is zero
    everywhere (Grad-CAM's ReLU leaves nothing while D's gradients vanish, e.g. in the first epochs)."""
    c = np.clip(cams, 0, None)
    total = c.sum((1, 2))
    return np.where(total > 0, (c * boxes).sum((1, 2)) / np.where(total > 0, total, 1.0), np.nan)


def mean_or_none(values: np.ndarray) -> float | None:
    """The mean over the images with attention; None (JSON null) when none has any."""
    finite = values[np.isfinite(values)]
    return round(float(finite.mean()), 4) if len(finite) else None


def mass_figure(per_epoch: dict[int, np.ndarray], labels: np.ndarray, chance: tuple[float, float]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5, 3))
    epochs = sorted(per_epoch)
    for value, name in ((0, "normal"), (1, "anomalous")):
        ax.plot(epochs, [np.nanmean(per_epoch[e][labels == value]) if np.isfinite(per_epoch[e][labels == value]).any()
                         else np.nan for e in epochs], label=f"{name} test digits")
    for value, style in ((0, "--"), (1, ":")):
        ax.axhline(chance[value], color="grey", linestyle=style,
                   label=f"the {('normal', 'anomalous')[value]} boxes' share of the canvas")
    ax.set_xlabel("epoch")
    ax.set_ylabel("attention mass in the digit's box")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--digit", type=int, default=0)
    parser.add_argument("--known-class", type=int, default=None, help="a known anomaly digit (semi-supervised)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="fast", choices=["paper", "fast"])
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="training precision")
    parser.add_argument("--stages", type=int, default=6, help="how many epochs to show attention at")
    parser.add_argument("--size-range", help="the protocol's digit sizes in px, e.g. 56,84 (default: the protocol's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a hyper-parameter of ADA")
    parser.add_argument("--out", default="results/ada-attention")
    args = parser.parse_args()

    overrides = {"precision": args.precision, **parse_sets(args.set)}
    if args.size_range:
        overrides["size_range"] = [int(v) for v in args.size_range.split(",")]
    if args.known_class is not None:
        overrides["known_class"] = args.known_class
    cell = Cell("ada", "mnist", "noisy-mnist", args.digit, args.seed, args.preset, overrides)
    params, _ = cell.settings()
    det, split = prepare(cell, args.data_root)
    normal, anomalous = np.flatnonzero(split.y_test == 0)[:6], np.flatnonzero(split.y_test == 1)[::150][:6]
    shown = split.x_test[np.r_[normal, anomalous]]
    titles = ["normal"] * len(normal) + ["anomaly"] * len(anomalous)
    stages = sorted({int(e) for e in np.linspace(1, det.epochs, args.stages).round()})
    maps: dict[int, np.ndarray] = {}
    probe, probe_labels, boxes = digits_with_boxes(args.data_root, args.digit, tuple(split.info["size_range"]), args.seed)
    mass: dict[int, np.ndarray] = {}

    def track(epoch: int) -> None:
        if epoch in stages:
            maps[epoch] = det.attention(shown)
        mass[epoch] = mass_in_boxes(det.attention(probe), boxes)

    tracking = EveryEpoch(track)
    start = time.perf_counter()
    det.fit(split.x_train, known_anomalies=split.x_known, callbacks=[tracking])
    fit_s = time.perf_counter() - start
    test_auroc = {k: auroc(split.y_test, v) for k, v in det.score(split.x_test).items()}

    setting = "self-supervised" if args.known_class is None else f"semi-supervised, known anomaly digit {args.known_class}"
    report = Report(f"ADA on noisy MNIST, normal digit {args.digit}: discriminator attention")
    report.paragraph(f"Preset `{args.preset}`: {json.dumps({k: v for k, v in params.items() if k != 'seed'})}; seed "
                     f"{args.seed}; {setting}; {len(split.x_train)} training images; {det.epochs} epochs; Grad-CAM "
                     f"on D's layer {det.grad_cam_layer()}; fit {fit_s / 60:.1f} min.")
    report.heading("AUROC on the test set")
    report.table(["score", "AUROC"], [[k, f"{v:.4f}"] for k, v in test_auroc.items()])
    report.heading("Figure 4: attention over training")
    images = shown / 255.0
    report.figure("ada-attention-epochs", overlay_grid(images, maps, titles),
                  "c = CAM(x) + CAM(x̂) over the input, each map scaled to its own maximum, at evenly spaced epochs; "
                  "six normal and six anomalous test images.")
    report.heading("Final maps")
    x_hat = det.reconstruct(shown)[:, 0]
    rows = [("input", images), ("x̂", x_hat), ("|x − x̂|", np.abs(images - x_hat)), ("c", det.attention(shown)),
            ("anomaly map", det.anomaly_maps(shown))]
    report.figure("ada-final-maps", image_grid(rows, titles, cmap_rows=("|x − x̂|", "c", "anomaly map")),
                  "Input, reconstruction, its error on the 0–1 scale, the attention c and the anomaly map "
                  "c/rms(c) ⊙ |x − x̂| (on the network's scale).")
    chance = float(boxes.mean())
    report.heading("Where the attention lies")
    group_chance = (float(boxes[probe_labels == 0].mean()), float(boxes[probe_labels == 1].mean()))
    report.figure("ada-attention-mass", mass_figure(mass, probe_labels, group_chance),
                  "Share of c's mass inside the digit's box after each epoch (mean over 50 normal and 50 anomalous "
                  "test digits), against the boxes' mean share of the canvas (what an even spread would give).")
    report.heading("Training losses")
    report.figure("ada-losses", loss_figure(det.fit_info_["train_loss"]), "Mean loss per epoch.")
    md, _ = report.write(args.out)
    (md.parent / "ada-attention.json").write_text(json.dumps(
        {"digit": args.digit, "known_class": args.known_class, "seed": args.seed, "preset": args.preset,
         "params": params, "test_auroc": test_auroc, "fit_seconds": round(fit_s, 1),
         "attention_mass_in_box": {"chance": round(chance, 4), **{
             f"chance_{name}": round(group_chance[value], 4) for value, name in ((0, "normal"), (1, "anomalous"))}, **{
             name: [mean_or_none(mass[e][probe_labels == value]) for e in sorted(mass)]
             for value, name in ((0, "normal"), (1, "anomalous"))},
             "images_with_attention": [round(float(np.isfinite(mass[e]).mean()), 2) for e in sorted(mass)]},
         "fit_info": det.fit_info_},
        indent=2, default=str) + "\n")
    print(f"AUROC {json.dumps({k: round(v, 4) for k, v in test_auroc.items()})}; report: {md}")


if __name__ == "__main__":
    main()
