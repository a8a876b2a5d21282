"""`oneclass` command line: demo, train, score, data. User errors print one line and exit with status 2."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import oneclass
from oneclass.bench.grid import PRESETS, evaluate
from oneclass.data.catalog import DATASETS, dataset_info, load_dataset, search_roots, verify_dataset
from oneclass.data.images import IMAGE_SUFFIXES, list_images, read_images
from oneclass.data.protocols import PROTOCOLS, make_split
from oneclass.detector import detector_class
from oneclass.errors import OneClassError
from oneclass.files import prepare_output_dir, write_atomic
from oneclass.metrics import auroc
from oneclass.params import integer, number

BASELINES = ("ae", "cae", "vae", "dsvdd", "ocsvm")
#: what each kind of output folder holds: other files in a folder given as --out make the command refuse it
MODEL_FILES = ("config.json", "weights.safetensors", "metrics.json", "video.json")
REPORT_FILES = ("report.md", "report.html", "*.png")
VIDEO_SCORE_FILES = ("frame_scores.csv", "video.png")


# ------------------------------------------------------------------------------------------- helpers


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def hyper_parameters(method: str, sets: list[str], epochs: int | None, seed: int) -> dict[str, Any]:
    """Hyper-parameters from `--set key=value` (values parsed as JSON when they can be) and `--epochs`."""
    params: dict[str, Any] = {"seed": seed}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise OneClassError(f"--set {item!r}: expected KEY=VALUE, e.g. --set lr=0.001")
        params[key] = _parse_value(value)
    if epochs is not None:
        if "epochs" not in detector_class(method).param_names():
            raise OneClassError(f"--epochs: method {method!r} has no epochs")
        params["epochs"] = epochs
    return params


def _check_normal_class(dataset: str, normal_class: int, option: str = "--normal-class") -> None:
    classes = dataset_info(dataset).classes
    if classes and not 0 <= normal_class < len(classes):
        raise OneClassError(f"{option} {normal_class}: {dataset} has classes 0-{len(classes) - 1}")


def _demo_detector(method: str, args: argparse.Namespace) -> oneclass.Detector:
    """A detector for the demo: the chosen preset, then --epochs and --seed."""
    epochs = args.epochs if "epochs" in detector_class(method).param_names() else None
    return oneclass.create(method, **{**detector_class(method).presets.get(args.preset, {}),
                                      **hyper_parameters(method, [], epochs, args.seed)})


# ------------------------------------------------------------------------------------------- commands


def cmd_demo(args: argparse.Namespace) -> None:
    """Train the baselines on the embedded Fashion-MNIST subset for one class; print a table; write a report.
    With --video: on generated surveillance-like scenes, patch by patch, scored per frame."""
    from oneclass.report import Report, image_grid, roc_figure, score_histograms

    methods = args.methods.split(",")
    detectors = {m: _demo_detector(m, args) for m in methods}  # every setting checked before anything runs
    prepare_output_dir(args.out, "--out", REPORT_FILES, replace_ours=True)
    if args.video:
        return demo_video(detectors, args)
    _check_normal_class("fashion-mnist-mini", args.normal_class)
    data = load_dataset("fashion-mnist-mini")
    split = make_split("one-vs-rest", data, args.normal_class, seed=args.seed)
    class_name = DATASETS["fashion-mnist-mini"].classes[args.normal_class]
    print(f"embedded Fashion-MNIST subset, normal class {args.normal_class} ({class_name}): "
          f"{len(split.x_train)} training images, {len(split.x_test)} test images ({int(split.y_test.sum())} anomalous)")
    rows, default_scores = [], {}
    for m, det in detectors.items():
        scores, aucs, fit_s, score_s = evaluate(det, split)
        total_s = fit_s + score_s
        rows.append([m, scores.default_name, f"{aucs[scores.default_name]:.4f}",
                     ", ".join(f"{k} {v:.4f}" for k, v in aucs.items() if k != scores.default_name) or "-",
                     f"{fit_s:.1f}", f"{total_s:.1f}"])
        print(f"  {m:6s} AUROC {aucs[scores.default_name]:.4f} ({scores.default_name})  {total_s:5.1f} s", flush=True)
        default_scores[m] = scores.default
    header = ["method", "score", "AUROC", "other scores (AUROC)", "fit s", "total s"]
    print()
    print(_text_table(header, rows))

    report = Report(f"oneclass demo: Fashion-MNIST class {args.normal_class} ({class_name}) as normal")
    report.paragraph(f"Data: the embedded stratified subset of real Fashion-MNIST. Protocol one-vs-rest: "
                     f"{len(split.x_train)} training images of class {args.normal_class}, {len(split.x_test)} test "
                     f"images of all classes ({int(split.y_test.sum())} anomalous). Seed {args.seed}. "
                     f"Model selection: none (last epoch). Preset {args.preset}"
                     f"{'' if args.epochs is None else f', epochs = {args.epochs}'}.")
    report.table(header, rows)
    report.figure("roc", roc_figure(split.y_test, default_scores, "ROC, default score of each method"))
    report.figure("histograms", score_histograms(split.y_test, default_scores), "Default scores, normal vs anomalous")
    order = np.argsort(default_scores[methods[0]])
    picks = np.r_[order[:4], order[-4:]]  # least and most anomalous by the first method
    x = split.x_test[picks]
    rows_img: list[tuple[str, np.ndarray]] = [("input", x / 255.0)]
    for m, det in detectors.items():
        if hasattr(det, "reconstruct"):
            rows_img.append((f"{m} output", det.reconstruct(x)[:, 0]))
            rows_img.append((f"{m} map", det.anomaly_maps(x)))
    titles = [f"{'anomaly' if split.y_test[i] else 'normal'}" for i in picks]
    report.figure("reconstructions", image_grid(rows_img, titles, [r[0] for r in rows_img if r[0].endswith("map")]),
                  f"Four least and four most anomalous test images by {methods[0]}: reconstructions and error maps")
    md, html = report.write(args.out)
    print(f"\nreport: {html} (and {md.name})")


def demo_video(detectors: dict[str, oneclass.Detector], args: argparse.Namespace) -> None:
    """The video demo: the generated moving scenes (made once in the data cache), the ucsd-patches protocol."""
    from oneclass.data.video import heatmaps, score_clip
    from oneclass.metrics import eer
    from oneclass.report import Report, roc_figure, video_figure

    data = load_dataset("moving-scenes")
    split = make_split("ucsd-patches", data, 0, seed=args.seed)
    n_frames = len(split.y_test)
    print(f"generated scenes in {data.root}: {len(split.x_train)} moving 30×30 training patches from "
          f"{len(data.train)} normal clips; {n_frames} test frames ({int(split.y_test.sum())} abnormal) in "
          f"{len(data.test)} clips, {split.frames.patches_per_frame} patches each")
    rows, frame_scores = [], {}
    for m, det in detectors.items():
        scores, aucs, fit_s, score_s = evaluate(det, split)
        name = scores.default_name
        rows.append([m, name, f"{aucs[name]:.4f}", f"{eer(split.y_test, scores.default)[0]:.3f}", f"{fit_s:.1f}",
                     f"{1000 * score_s / n_frames:.1f}"])
        print(f"  {m:6s} frame AUROC {aucs[name]:.4f} ({name})  fit {fit_s:5.1f} s", flush=True)
        frame_scores[m] = scores.default
    header = ["method", "score", "frame AUROC", "frame EER", "fit s", "ms per frame"]
    print()
    print(_text_table(header, rows))
    report = Report("oneclass demo: anomalies in generated surveillance video")
    report.paragraph(f"Data: generated UCSD-like scenes (`moving-scenes`, in {data.root}): walking blobs are normal, "
                     f"carts and cyclists are anomalies. Protocol ucsd-patches: 30×30 patches every 25 pixels; "
                     f"training on the {len(split.x_train)} moving patches of {len(data.train)} normal clips; a "
                     f"frame's score is the max over its patches; {n_frames} test frames. Seed {args.seed}. Preset "
                     f"{args.preset}{'' if args.epochs is None else f', epochs = {args.epochs}'}.")
    report.table(header, rows)
    report.figure("roc", roc_figure(split.y_test, frame_scores, "ROC over test frames, default score of each method"))
    clip = data.test[0]
    for m, det in detectors.items():
        patch_scores, scores = score_clip(det, clip.frames, split.frames.stride)
        picks = np.linspace(0, len(clip.frames) - 1, 6).round().astype(int)
        heat = heatmaps(patch_scores[picks], clip.frames.shape[1:], split.frames.patch_size, split.frames.stride)
        report.figure(f"clip-{m}", video_figure(clip.frames, picks, heat, scores, clip.labels, title=f"{clip.name}: {m}"),
                      f"{m}: frames of test clip {clip.name} with their patch-score heatmaps, and its frame scores")
    md, html = report.write(args.out)
    print(f"\nreport: {html} (and {md.name})")


def cmd_train(args: argparse.Namespace) -> None:
    """Train one method on one dataset/protocol/normal class, evaluate it, save the model and its metrics."""
    _check_normal_class(args.dataset, args.normal_class)
    params = hyper_parameters(args.method, args.set, args.epochs, args.seed)
    det = oneclass.create(args.method, **params)
    data = load_dataset(args.dataset, args.data_root, download=not args.no_download)
    split = make_split(args.protocol, data, args.normal_class, seed=args.seed,
                       val_normal=args.val_normal, val_outliers=args.val_outliers)
    prepare_output_dir(args.out, "--out", MODEL_FILES, force=args.force)
    print(f"{args.method} on {args.dataset} ({args.protocol}), normal class {args.normal_class}: "
          f"{len(split.x_train)} train, {len(split.x_test)} test images", flush=True)
    _, aucs, fit_s, score_s = evaluate(det, split)
    out = det.save(args.out)
    (out / "video.json").unlink(missing_ok=True)  # --force over a train-video model: its patch settings go with it
    metrics = {"method": args.method, "dataset": args.dataset, "protocol": args.protocol,
               "normal_class": args.normal_class, "seed": args.seed, "auroc": aucs,
               "default_score": det.default_score, "selection": det.fit_info_.get("selection", "none"),
               "n_train": len(split.x_train), "n_test": len(split.x_test), "fit_seconds": round(fit_s, 2),
               "score_seconds": round(score_s, 2), "params": det.get_params()}
    write_atomic(out / "metrics.json", json.dumps(metrics, indent=2, default=list) + "\n")
    for name, value in aucs.items():
        print(f"  AUROC {name:8s} {value:.4f}{'  (default)' if name == det.default_score else ''}")
    print(f"  fit {fit_s:.1f} s, score {score_s:.1f} s; model saved to {out}")


def _collect_images(inputs: list[str]) -> list[Path]:
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = list_images(p)
            for sub in ("normal", "abnormal"):
                if (p / sub).is_dir():
                    found += list_images(p / sub)
            if not found:
                raise OneClassError(f"{p}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
            paths += found
        elif p.is_file():
            paths.append(p)
        else:
            raise OneClassError(f"{p}: no such file or folder")
    return paths


def cmd_score(args: argparse.Namespace) -> None:
    """Score image files or folders with a saved model; one line per image (or JSON)."""
    det = oneclass.load(args.model, device=args.device)
    paths = _collect_images(args.images)
    c, h, w = det.input_shape
    images = read_images(paths, size=(h, w), channels=c)
    scores = det.score(images)
    if args.json:
        out = {"model": str(args.model), "method": det.name, "default_score": scores.default_name,
               "images": [{"path": str(p), "scores": {k: float(v[i]) for k, v in scores.items()}}
                          for i, p in enumerate(paths)]}
        print(json.dumps(out, indent=2))
        return
    width = max(len(str(p)) for p in paths)
    for i, p in enumerate(paths):
        others = "  ".join(f"{k}={v[i]:.6g}" for k, v in scores.items() if k != scores.default_name)
        print(f"{str(p):{width}s}  {scores.default_name}={scores.default[i]:.6g}  {others}".rstrip())
    labels = np.array([1 if p.parent.name == "abnormal" else 0 if p.parent.name == "normal" else -1 for p in paths])
    if (labels >= 0).all() and 0 < labels.sum() < len(labels):
        print(f"AUROC ({scores.default_name}, normal/ vs abnormal/): {auroc(labels, scores.default):.4f}")


def cmd_train_video(args: argparse.Namespace) -> None:
    """Train one method on the patches of normal video (files or folders of frames); save the model with the
    patch settings that `oneclass score-video` reuses."""
    from oneclass.data.video import read_video, training_patches

    for option, value, rule in (("--patch-size", args.patch_size, integer(1)), ("--stride", args.stride, integer(1)),
                                ("--min-motion", args.min_motion, number(0, 1)),
                                ("--max-patches", args.max_patches, integer(1, optional=True))):
        rule.check(option, value)
    det = oneclass.create(args.method, **hyper_parameters(args.method, args.set, args.epochs, args.seed))
    clips = [read_video(v) for v in args.videos]
    prepare_output_dir(args.out, "--out", MODEL_FILES, force=args.force)
    patches = training_patches(clips, args.patch_size, args.stride, args.train_patches, min_motion=args.min_motion,
                               max_patches=args.max_patches, rng=np.random.default_rng(args.seed))
    print(f"{args.method}: {len(patches)} training patches of {args.patch_size}×{args.patch_size} from "
          f"{sum(len(c) for c in clips)} frames of {len(clips)} video(s)", flush=True)
    det.fit(patches)
    out = det.save(args.out)
    video = {"patch_size": args.patch_size, "stride": args.stride, "train_patches": args.train_patches,
             "min_motion": args.min_motion, "n_train_patches": len(patches), "videos": [str(v) for v in args.videos]}
    write_atomic(out / "video.json", json.dumps(video, indent=2) + "\n")
    print(f"model saved to {out}")


def cmd_score_video(args: argparse.Namespace) -> None:
    """Score every frame of a video (file or folder of frames) with a model trained on patches: frame score = max
    over the frame's patches. Writes frame_scores.csv, heatmaps of the most anomalous frames and the score curve."""
    from oneclass.data.video import heatmaps, read_video, score_clip
    from oneclass.report import video_figure

    integer(1).check("--smooth", args.smooth)
    integer(1, optional=True).check("--stride", args.stride)
    det = oneclass.load(args.model, device=args.device)
    stride = args.stride or _trained_stride(Path(args.model) / "video.json") or det.input_shape[-1]
    frames = read_video(args.video)
    out = prepare_output_dir(args.out, "--out", VIDEO_SCORE_FILES, replace_ours=True)
    t0 = time.perf_counter()
    patch_scores, scores = score_clip(det, frames, stride, args.smooth)
    seconds = time.perf_counter() - t0
    lines = ["frame,score"] + [f"{t + 1},{v:.6g}" for t, v in enumerate(scores)]
    write_atomic(out / "frame_scores.csv", "\n".join(lines) + "\n")
    segments = np.array_split(np.arange(len(frames)), min(6, len(frames)))
    picks = [int(seg[np.argmax(scores[seg])]) for seg in segments]  # the peak of each sixth of the video
    heat = heatmaps(patch_scores[picks], frames.shape[1:], det.input_shape[-1], stride)
    fig = video_figure(frames, picks, heat, scores, title=f"{Path(args.video).name}: {det.name}")
    fig.savefig(out / "video.png", dpi=120)
    top = np.argsort(scores)[::-1][:5] + 1
    print(f"{len(frames)} frames scored in {seconds:.1f} s ({1000 * seconds / len(frames):.1f} ms per frame); "
          f"most anomalous frames: {', '.join(map(str, top))}")
    print(f"wrote {out / 'frame_scores.csv'} and {out / 'video.png'}")


def _trained_stride(settings_file: Path) -> int | None:
    """The patch stride `train-video` saved beside the model (video.json), checked; None without the file."""
    if not settings_file.is_file():
        return None
    try:
        settings = json.loads(settings_file.read_text())
        stride = settings["stride"]
        integer(1).check("stride", stride)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError, OneClassError) as exc:
        raise OneClassError(f"{settings_file}: not the patch settings `oneclass train-video` writes "
                            f"({type(exc).__name__}: {exc}); remove it or train again") from None
    return stride


def cmd_bench(args: argparse.Namespace) -> None:
    """Run a grid of trainings (methods × normal classes × seeds); one JSON line per finished cell in --out.

    A rerun with the same --out skips the cells already there, so an interrupted grid resumes where it stopped.
    """
    from oneclass.bench import ResultsFile, make_cells, parse_classes, run_grid
    from oneclass.training import progress

    methods = args.methods.split(",")
    info = dataset_info(args.dataset)
    classes = list(range(len(info.classes))) if args.classes == "all" else parse_classes(args.classes)
    if not classes:
        raise OneClassError(f"--classes: {args.dataset} has no fixed classes; give them, e.g. --classes 1,3,5 "
                            "(the caltech protocol's numbers of inlier categories)")
    for c in classes:
        _check_normal_class(args.dataset, c, "--classes")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise OneClassError(f"--seeds {args.seeds!r}: expected comma-separated integers, e.g. 0,1,2") from None
    for seed in seeds:
        integer(0).check("--seeds", seed)
    overrides = hyper_parameters(methods[0], args.set, None, 0)
    overrides.pop("seed")
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    integer(1).check("--workers", args.workers)
    cells = make_cells(methods, args.dataset, args.protocol, classes, seeds, args.preset, overrides, args.track_epochs)
    out = ResultsFile(args.out)
    set_aside = out.check()
    if set_aside:
        print(f"{set_aside} line(s) of {out.path} named a cell but lacked or mistyped its metrics: moved to "
              f"{out.rejected_path}; those cells run again", flush=True)
    load_dataset(args.dataset, args.data_root, download=not args.no_download)  # fetch once, before any worker
    done = len(out.done_keys() & {c.key() for c in cells})
    print(f"{len(cells)} cells, {done} already in {out.path}; running {len(cells) - done} "
          f"({args.executor if args.executor == 'ray' else f'{args.workers} worker(s)'})", flush=True)
    bar = progress(None, "grid", total=len(cells), leave=True)
    bar.update(done)

    def on_done(cell, row, error) -> None:
        bar.update(1)
        what = f"{cell.method} class {cell.normal_class} seed {cell.seed}"
        if error is not None:
            bar.write(f"  {what}: FAILED ({type(error).__name__}: {error}); rerun to retry")
        else:
            bar.write(f"  {what}: AUROC {row['auroc'][row['default_score']]:.4f} ({row['default_score']}), "
                      f"{row['fit_seconds'] + row['score_seconds']:.0f} s")

    failures = run_grid(cells, out, args.data_root, args.workers, args.executor, args.address, on_done)
    bar.close()
    if failures:
        raise OneClassError(f"{failures} cell(s) failed; their errors are printed above; rerun to retry them")
    print(f"results: {out.path} (make a report with: oneclass report {out.path} --out report)")


def cmd_report(args: argparse.Namespace) -> None:
    """Write report.md and report.html from result files: tables per method, papers' numbers beside ours, figures."""
    from oneclass.bench.report import write_report

    prepare_output_dir(args.out, "--out", REPORT_FILES, replace_ours=True)
    md, html = write_report(args.results, args.out)
    print(f"report: {html} (and {md.name})")


def cmd_data(args: argparse.Namespace) -> None:
    """List known datasets and where they are looked for, or verify their files."""
    if args.action == "list":
        roots = search_roots(args.data_root)
        print("search order: " + " → ".join(str(r) for r in roots))
        for name, info in DATASETS.items():
            checks = verify_dataset(name, args.data_root)
            where = "missing" if checks[0].status == "missing" else str(checks[0].path.parent if not info.embedded
                                                                       else checks[0].path)
            print(f"  {name:20s} {where}\n  {'':20s} {info.description}")
        return
    names = args.names or [n for n in DATASETS]
    bad = 0
    for name in names:
        for check in verify_dataset(name, args.data_root):
            print(f"{name:20s} {check.status:10s} {check.path}: {check.detail}")
            bad += check.status in ("corrupt", "mismatch") or (check.status == "missing" and bool(args.names))
    if bad:
        raise OneClassError(f"{bad} file(s) failed verification")


# ------------------------------------------------------------------------------------------- parser


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(f"{h:{w}s}" for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(f"{str(c):{w}s}" for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oneclass", description="One-class novelty and anomaly detection on images and video.")
    parser.add_argument("--version", action="version", version=f"oneclass {oneclass.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="train the baselines on the embedded Fashion-MNIST subset and write a report",
                       description=cmd_demo.__doc__)
    p.add_argument("--normal-class", type=int, default=0, help="Fashion-MNIST class used as normal (0-9, default 0)")
    p.add_argument("--methods", default=",".join(BASELINES), help="comma-separated methods (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=None, help="override every method's epochs")
    p.add_argument("--preset", default="paper", choices=list(PRESETS),
                   help="paper: each method's defaults; fast: our CPU budget (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="demo-report", help="report folder (default: %(default)s)")
    p.add_argument("--video", action="store_true",
                   help="the video demo: generated scenes (UCSD layout, made once in the data cache), scored per frame")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train and evaluate one method; save the model", description=cmd_train.__doc__)
    p.add_argument("--method", required=True, choices=oneclass.available())
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--normal-class", type=int, required=True)
    p.add_argument("--protocol", default="one-vs-rest", choices=list(PROTOCOLS))
    p.add_argument("--out", required=True, help="folder for the model (config.json, weights.safetensors, metrics.json)")
    p.add_argument("--data-root", default=None, help="folder holding DATASET/ (else $ONECLASS_DATA, else the cache)")
    p.add_argument("--no-download", action="store_true", help="fail instead of downloading a missing dataset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any hyper-parameter, repeatable")
    p.add_argument("--val-normal", type=int, default=0, help="normal training images held out for model selection")
    p.add_argument("--val-outliers", type=int, default=0, help="real outliers in the validation set (not honest)")
    p.add_argument("--force", action="store_true", help="replace the model already in --out")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("score", help="score images with a saved model", description=cmd_score.__doc__)
    p.add_argument("--model", required=True, help="model folder written by `oneclass train`")
    p.add_argument("images", nargs="+", help="image files or folders (a folder's normal/ and abnormal/ are read too)")
    p.add_argument("--json", action="store_true", help="print JSON instead of one line per image")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: as trained, else auto)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("train-video", help="train one method on patches of normal video; save the model",
                       description=cmd_train_video.__doc__)
    p.add_argument("--method", required=True, choices=oneclass.available())
    p.add_argument("videos", nargs="+", help="normal video files or folders of frames")
    p.add_argument("--out", required=True, help="folder for the model (config.json, weights.safetensors, video.json)")
    p.add_argument("--patch-size", type=int, default=30, help="patch side in pixels (default: %(default)s)")
    p.add_argument("--stride", type=int, default=25, help="pixels between patches (default: %(default)s)")
    p.add_argument("--train-patches", default="motion", choices=["motion", "all"],
                   help="train on moving patches only (default) or on all")
    p.add_argument("--min-motion", type=float, default=0.01,
                   help="fraction of a patch's pixels that must change for it to count as moving (default: %(default)s)")
    p.add_argument("--max-patches", type=int, default=None, help="train on at most this many patches, drawn at random")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any hyper-parameter, repeatable")
    p.add_argument("--force", action="store_true", help="replace the model already in --out")
    p.set_defaults(func=cmd_train_video)

    p = sub.add_parser("score-video", help="score the frames of a video with a model trained on patches",
                       description=cmd_score_video.__doc__)
    p.add_argument("--model", required=True, help="model folder written by `oneclass train-video` (or `train`)")
    p.add_argument("video", help="a video file (decoded by PyAV) or a folder of frames")
    p.add_argument("--out", default="video-scores", help="folder for frame_scores.csv and video.png (default: %(default)s)")
    p.add_argument("--stride", type=int, default=None, help="pixels between patches (default: as trained)")
    p.add_argument("--smooth", type=int, default=1, help="moving average of frame scores over N frames (default: off)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: as trained, else auto)")
    p.set_defaults(func=cmd_score_video)

    p = sub.add_parser("bench", help="run a benchmark grid, resumable, one JSON line per cell",
                       description=cmd_bench.__doc__)
    p.add_argument("--methods", required=True, help="comma-separated methods, e.g. ae,dsvdd")
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--protocol", default="one-vs-rest", choices=list(PROTOCOLS))
    p.add_argument("--classes", default="all", help="normal classes: all, 0-9, 0,2,5 (default: all)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default: 0)")
    p.add_argument("--preset", default="paper", choices=list(PRESETS),
                   help="paper: each method's paper settings; fast: our documented CPU budget (default: paper)")
    p.add_argument("--epochs", type=int, default=None, help="override every method's epochs")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="hyper-parameter for every method")
    p.add_argument("--track-epochs", action="store_true",
                   help="also record the test AUROC after every epoch (for studies of training; not for selection)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--no-download", action="store_true")
    p.add_argument("--out", required=True, help="results file (JSON lines); rerunning with it resumes")
    p.add_argument("--workers", type=int, default=1, help="local worker processes, each with cores/N threads")
    p.add_argument("--executor", default="local", choices=["local", "ray"])
    p.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("report", help="write a Markdown + HTML report from result files", description=cmd_report.__doc__)
    p.add_argument("results", nargs="+", help="results files written by `oneclass bench`")
    p.add_argument("--out", default="report", help="report folder (default: %(default)s)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("data", help="list or verify datasets", description=cmd_data.__doc__)
    p.add_argument("action", choices=["list", "verify"])
    p.add_argument("names", nargs="*", help="datasets to verify (default: all)")
    p.add_argument("--data-root", default=None)
    p.set_defaults(func=cmd_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a path or message that the terminal's encoding cannot show
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except OneClassError as exc:
        print(f"oneclass: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system refused something no check foresaw (a full disk, a lost mount)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"oneclass: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("oneclass: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
