"""`oneclass demo`: the baselines on the embedded Fashion-MNIST subset (or on generated surveillance-like scenes,
or on the generated defects data set), a table on stdout and a report with figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from oneclass.core import Detector, clone, create
from oneclass.data.catalog import DATASETS, cache_dir, load_dataset
from oneclass.data.protocols import make_split
from oneclass.evaluation import evaluate
from oneclass.registry import detector_class
from oneclass.report import Report, defects_figure, image_grid, roc_figure, score_histograms, video_figure
from oneclass.settings import resolve


def demo_detectors(methods: list[str], preset: str, overrides: dict[str, Any],
                   seed: int) -> tuple[dict[str, Detector], dict[str, Any]]:
    """One detector per method (the preset, then the overrides; `epochs` only where a method has epochs) and the
    protocol options among the overrides. Every setting is checked here, before any data is read."""
    detectors, split_options = {}, {}
    for m in methods:
        own = {k: v for k, v in overrides.items() if k != "epochs" or "epochs" in detector_class(m).param_names()}
        params, split_options = resolve(m, preset, own, seed)
        detectors[m] = create(m, **params)
    return detectors, split_options


def run_demo(detectors: dict[str, Detector], split_options: dict[str, Any], normal_class: int, seed: int, settings: str,
             out: str | Path) -> Path:
    """Train every detector on one Fashion-MNIST class of the embedded subset, print a table, write a report, save
    the models in `out`/models/ and say how to serve them; returns the report's HTML file. `settings` describes the
    preset and overrides for the report."""
    data = load_dataset("fashion-mnist-mini")
    split = make_split("one-vs-rest", data, normal_class, seed=seed, **split_options)
    class_name = DATASETS["fashion-mnist-mini"].classes[normal_class]
    print(f"embedded Fashion-MNIST subset, normal class {normal_class} ({class_name}): "
          f"{len(split.x_train)} training images, {len(split.x_test)} test images ({int(split.y_test.sum())} anomalous)")
    rows, default_scores = [], {}
    for m, det in detectors.items():
        result = evaluate(det, split, dataset="fashion-mnist-mini", normal_class=normal_class)
        name, total_s = result.default_score, result.fit_seconds + result.score_seconds
        decided = result.decision
        rows.append([m, name, f"{result.auroc[name]:.4f}",
                     ", ".join(f"{k} {v:.4f}" for k, v in result.auroc.items() if k != name) or "-",
                     f"{decided['test_fpr']:.3f} / {decided['test_tpr']:.3f}" if decided else "-",
                     f"{result.fit_seconds:.1f}", f"{total_s:.1f}"])
        print(f"  {m:6s} AUROC {result.auroc[name]:.4f} ({name})  {total_s:5.1f} s", flush=True)
        default_scores[m] = result.scores.default
        det.save(Path(out) / "models" / m)
    header = ["method", "score", "AUROC", "other scores (AUROC)", "FPR / TPR at threshold", "fit s", "total s"]
    print()
    print(text_table(header, rows))

    report = Report(f"oneclass demo: Fashion-MNIST class {normal_class} ({class_name}) as normal")
    report.paragraph(f"Data: the embedded stratified subset of real Fashion-MNIST. Protocol one-vs-rest: "
                     f"{len(split.x_train)} training images of class {normal_class}, {len(split.x_test)} test "
                     f"images of all classes ({int(split.y_test.sum())} anomalous). Seed {seed}. "
                     f"Model selection: none (last epoch). Each method's decision threshold is set at a 5 % "
                     f"false-positive rate on a tenth of the training images, held out of training. {settings}.")
    report.table(header, rows)
    report.figure("roc", roc_figure(split.y_test, default_scores, "ROC, default score of each method"))
    report.figure("histograms", score_histograms(split.y_test, default_scores), "Default scores, normal vs anomalous")
    first = next(iter(detectors))
    report.figure("reconstructions", *_image_grid(detectors, split, default_scores[first], first))
    served = " ".join(f"--model {Path(out) / 'models' / m}" for m in detectors)
    report.paragraph(f"The trained models are in `models/`; to score new images with them from a browser or another "
                     f"program: `oneclass serve {served}` (needs `pip install -e '.[serve]' in the clone`).")
    md, html = report.write(out)
    print(f"\nreport: {html} (and {md.name})")
    print(f"models: {Path(out) / 'models'}/; score images with them in a browser:\n  oneclass serve {served}\n"
          "  then open http://127.0.0.1:8000/")
    return html


def _image_grid(detectors: dict[str, Detector], split: Any, first_scores: np.ndarray, first: str) -> tuple[Any, str]:
    """The report's picture of the four least and four most anomalous test images by the first method: each
    method's output and map (OLED's learned mask and inpainting too), and its caption."""
    order = np.argsort(first_scores)
    picks = np.r_[order[:4], order[-4:]]  # least and most anomalous by the first method
    x = split.x_test[picks]
    rows_img: list[tuple[str, np.ndarray]] = [("input", x / 255.0)]
    for m, det in detectors.items():
        if hasattr(det, "reconstruct"):
            rows_img.append((f"{m} output", det.reconstruct(x)[:, 0]))
            rows_img.append((f"{m} map", det.anomaly_maps(x)))
        elif hasattr(det, "inpaint"):  # OLED: the learned mask, the masked input and R's inpainting of it
            parts = det.inpaint(x)
            rows_img += [(f"{m} mask", parts["mask"]), (f"{m} masked", parts["masked"][:, 0]),
                         (f"{m} output", parts["reconstruction"][:, 0]), (f"{m} map", det.anomaly_maps(x))]
        elif det.has_anomaly_maps:  # knn_geom: where each image differs from its nearest training images
            rows_img.append((f"{m} map", det.anomaly_maps(x)))
    titles = [f"{'anomaly' if split.y_test[i] else 'normal'}" for i in picks]
    return (image_grid(rows_img, titles, [r[0] for r in rows_img if r[0].endswith("map")]),
            f"Four least and four most anomalous test images by {first}: reconstructions, OLED's masks, maps")


def run_video_demo(detectors: dict[str, Detector], split_options: dict[str, Any], seed: int, settings: str,
                   out: str | Path) -> Path:
    """The video demo: the generated moving scenes (made once in the data cache), the ucsd-patches protocol."""
    from oneclass.video import PatchSettings, PatchVideoDetector

    data = load_dataset("moving-scenes")
    split = make_split("ucsd-patches", data, 0, seed=seed, **split_options)
    n_frames = len(split.y_test)
    side, stride = split.frames.patch_size, split.frames.stride
    print(f"generated scenes in {data.root}: {len(split.x_train)} moving {side}×{side} training patches from "
          f"{len(data.train)} normal clips; {n_frames} test frames ({int(split.y_test.sum())} abnormal) in "
          f"{len(data.test)} clips, {split.frames.patches_per_frame} patches each")
    rows, frame_scores = [], {}
    for m, det in detectors.items():
        result = evaluate(det, split, dataset="moving-scenes", normal_class=0)
        name = result.default_score
        rows.append([m, name, f"{result.auroc[name]:.4f}", f"{result.eer[name]:.3f}",
                     f"{result.fit_seconds:.1f}", f"{1000 * result.score_seconds / n_frames:.1f}"])
        print(f"  {m:6s} frame AUROC {result.auroc[name]:.4f} ({name})  fit {result.fit_seconds:5.1f} s", flush=True)
        frame_scores[m] = result.scores.default
    header = ["method", "score", "frame AUROC", "frame EER", "fit s", "ms per frame"]
    print()
    print(text_table(header, rows))
    report = Report("oneclass demo: anomalies in generated surveillance video")
    report.paragraph(f"Data: generated UCSD-like scenes (`moving-scenes`, in {data.root}): walking blobs are normal, "
                     f"carts and cyclists are anomalies. Protocol ucsd-patches: {side}×{side} patches every {stride} pixels; "
                     f"training on the {len(split.x_train)} moving patches of {len(data.train)} normal clips; a "
                     f"frame's score is the max over its patches; {n_frames} test frames. Seed {seed}. {settings}.")
    report.table(header, rows)
    report.figure("roc", roc_figure(split.y_test, frame_scores, "ROC over test frames, default score of each method"))
    clip = data.test[0]
    for m, det in detectors.items():
        video = PatchVideoDetector(det, PatchSettings(patch_size=side, stride=stride))
        patch_scores, scores = video.score_frames(clip.frames)
        picks = np.linspace(0, len(clip.frames) - 1, 6).round().astype(int)
        heat = video.heatmaps(patch_scores[picks], clip.frames.shape[1:])
        report.figure(f"clip-{m}", video_figure(clip.frames, picks, heat, scores, clip.labels, title=f"{clip.name}: {m}"),
                      f"{m}: frames of test clip {clip.name} with their patch-score heatmaps, and its frame scores")
    md, html = report.write(out)
    print(f"\nreport: {html} (and {md.name})")
    return html


def run_defects_demo(detectors: dict[str, Detector], seed: int, settings: str, out: str | Path,
                     size: int = 64) -> Path:
    """The defects demo: every detector trained on each category of the generated defects data set (made once in
    the data cache) at `size`² pixels; image AUROC, pixel AUROC and PRO in a table and a report with maps."""
    from oneclass.data.defects import CATEGORIES, make_defects
    from oneclass.data.mvtec import read_category
    from oneclass.evaluation import evaluate_category

    root = cache_dir() / "defects"
    if not (root / "README.json").is_file():
        make_defects(root, seed=0)
    print(f"generated defects data set in {root}: {', '.join(CATEGORIES)}, read at {size}×{size}")
    report = Report("oneclass demo: defects in generated textures and objects")
    rows = []
    for name in CATEGORIES:
        category = read_category(root / name, size=(size, size))
        picks = [category.defects.index(d) for d in dict.fromkeys(category.defects)]  # the first of each kind
        maps = {}
        for m, det in detectors.items():
            fitted = clone(det)
            line = evaluate_category(fitted, category)
            image = line["image_auroc"]
            rows.append([name, m, f"{image[line['default_score']]:.4f}",
                         *(f"{line[k]:.4f}" if k in line else "-" for k in ("pixel_auroc", "pro")),
                         f"{image['map_max']:.4f}" if "map_max" in image else "-", f"{line['fit_seconds']:.1f}"])
            by_map = f" (by map max {image['map_max']:.4f})" if "map_max" in image else ""
            print(f"  {name:6s} {m:9s} image AUROC {image[line['default_score']]:.4f}{by_map}  pixel AUROC "
                  f"{line.get('pixel_auroc', float('nan')):.4f}  fit {line['fit_seconds']:5.1f} s", flush=True)
            if fitted.has_anomaly_maps:
                maps[m] = fitted.anomaly_maps(category.test.images[picks])
        if maps:
            report.figure(f"maps-{name}", defects_figure(category.test.images[picks], category.masks[picks], maps,
                                                         [category.defects[i] for i in picks], title=name),
                          f"{name}: a good test image and one of each defect (true outline in cyan), with each "
                          "method's anomaly map")
    header = ["category", "method", "image AUROC", "pixel AUROC", "PRO (30 % FPR)", "image AUROC of map max", "fit s"]
    print()
    print(text_table(header, rows))
    report.paragraph(f"Data: `oneclass data make-defects` (seed 0), in MVTec AD's layout, read at {size}×{size}: "
                     f"per category 200 good training images; 40 good and 48 defective test images (scratches, "
                     f"spots, missing parts, colour changes) with masks. Image AUROC of each method's default score; "
                     f"pixel AUROC and PRO of its anomaly maps; the image AUROC of the map's maximum. Seed {seed}. "
                     f"{settings}.")
    report.table(header, rows)
    md, html = report.write(out)
    print(f"\nreport: {html} (and {md.name})")
    return html


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """Rows as aligned plain-text columns under `header`."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(f"{h:{w}s}" for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(f"{str(c):{w}s}" for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)
