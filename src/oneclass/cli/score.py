"""`score`, `score-video`, `export` and `serve`: the commands that use a saved model."""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

import oneclass
from oneclass.cli.common import add_scoring_flags, collect_images, load_for_scoring
from oneclass.core.results import CSV_COLUMNS, ImageResult, image_results, results_csv
from oneclass.errors import OneClassError
from oneclass.files import check_writable_dir, prepare_output_dir, write_atomic, written_whole
from oneclass.params import integer, number

#: the header of `score --csv` files, now and before 0.2 (a file with either is ours to replace)
CSV_HEADERS = (",".join(CSV_COLUMNS), "path,score,normalised,anomalous")
VIDEO_SCORE_FILES = ("frame_scores.csv", "video.png")
#: the file that marks a --heatmaps folder as written by `score`: PNGs in a folder without it are the user's
HEATMAPS_MARKER = ".oneclass-heatmaps"

def cmd_score(args: argparse.Namespace) -> None:
    """Score image files or folders with a saved model: per image its scores, the normalised score in [0, 1] and the
    decision (anomalous above the threshold `train` set at a false-positive rate); optionally a CSV and heatmaps."""
    from oneclass.data.images import conversion_note, image_header, read_images

    det = load_for_scoring(args)
    paths, relative = collect_images(args.images)
    if args.heatmaps is not None and not det.has_anomaly_maps:
        raise OneClassError(f"--heatmaps: {det.name} has no anomaly maps; leave --heatmaps out")
    csv_file = _check_csv_out(args.csv) if args.csv is not None else None
    heat_dir = (prepare_output_dir(args.heatmaps, "--heatmaps", ("*.png", HEATMAPS_MARKER), replace_ours=True,
                                   nested=True, marker=HEATMAPS_MARKER) if args.heatmaps else None)
    c, h, w = det.input_shape_
    notes = [conversion_note(image_header(p, p), (h, w), c) for p in paths]
    images = read_images(paths, size=(h, w), channels=c)
    results = image_results(det, images, [str(p) for p in paths], maps=heat_dir is not None, notes=notes)
    if csv_file is not None:
        write_atomic(csv_file, results_csv(results))
    if heat_dir is not None:
        _write_heatmaps(det, heat_dir, images, results, relative)
    if args.json:
        print(json.dumps({"model": str(args.model), "method": det.name, "default_score": results[0].default_name,
                          "decision": None if det.decision_ is None else det.decision_.to_json(),
                          "images": [r.to_json() for r in results]}, indent=2))
    else:
        _print_results(det, results)
    for label, target in (("scores", csv_file), ("heatmaps", heat_dir)):
        if target is not None:
            print(f"wrote {label} to {target}", file=sys.stderr if args.json else sys.stdout)


def heatmap_names(relative: list[Path]) -> list[Path]:
    """Each image's heatmap file: its path relative to the folder it was found in, as .png (`normal/003.png`), with
    its position added where two would share a name (`a/x.png` and `b/x.png` named as files)."""
    names = [r.with_suffix(".png") for r in relative]
    clashes = {n for n in names if names.count(n) > 1} | {n for n in names if n.name == "colour-scale.png"}
    return [n.with_name(f"{n.stem}-{i + 1}.png") if n in clashes else n for i, n in enumerate(names)]


def _write_heatmaps(det, heat_dir: Path, images: np.ndarray, results: list[ImageResult], relative: list[Path]) -> None:
    """The maps over their images, on one colour scale for every image written, with its legend: a new folder,
    marked as ours (`HEATMAPS_MARKER`), that replaces `heat_dir` whole once every file is written."""
    from oneclass.overlay import colour_scale, heatmap_overlay, png_bytes

    maps = np.stack([r.map for r in results])
    scale = (float(maps.min()), float(maps.max()))
    with written_whole(heat_dir, "--heatmaps") as new:
        write_atomic(new / HEATMAPS_MARKER, "heatmaps written by `oneclass score`; the folder is replaced on rerun\n")
        for image, r, name in zip(images, results, heatmap_names(relative), strict=True):
            _write_output(new, heat_dir, name, png_bytes(heatmap_overlay(image, r.map, scale=scale)))
        _write_output(new, heat_dir, Path("colour-scale.png"), png_bytes(colour_scale(*scale, label=f"{det.name} anomaly map")))


def _write_output(new: Path, shown: Path, name: Path, data: bytes) -> None:
    """File `name` of a folder being built (`new`), an error naming where the user will look for it (`shown`)."""
    (new / name).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(new / name, data, shown_as=shown / name)


def _print_results(det, results: list[ImageResult]) -> None:
    """One line per image (its default score, verdict and other scores), the threshold, and the AUROC where the
    images lie in folders named normal/ and abnormal/."""
    from oneclass.data.images import folder_labels
    from oneclass.metrics import auroc

    width = max(len(r.name) for r in results)
    name = results[0].default_name
    for r in results:
        verdict = "" if r.anomalous is None else f"  normalised={r.normalised:.3f}  {'ANOMALOUS' if r.anomalous else 'normal'}"
        others = "  ".join(f"{k}={v:.6g}" for k, v in r.scores.items() if k != name)
        note = f"  ({r.converted})" if r.converted else ""
        print(f"{r.name:{width}s}  {name}={r.default_score:.6g}{verdict}  {others}{note}".rstrip())
    d = det.decision_
    if d is not None:
        print(f"threshold {name} > {d.threshold:.6g} (false-positive rate {d.fpr:.0%} on {d.n} {d.source} normal "
              f"images): {sum(bool(r.anomalous) for r in results)} of {len(results)} anomalous")
    else:
        print(f"no decisions: {det.no_decision_reason()}")
    converted = sum(r.converted is not None for r in results)
    if converted:
        print(f"{converted} of {len(results)} images were resized or converted to the model's input "
              f"({det.input_shape_[1]}×{det.input_shape_[2]}, {'grey' if det.input_shape_[0] == 1 else 'colour'}); "
              "it never saw images like them as they were, so their scores may say more about the conversion")
    labels = folder_labels([Path(r.name) for r in results])
    if labels is not None:
        print(f"AUROC ({name}, normal/ vs abnormal/): {auroc(labels, [r.default_score for r in results]):.4f}")


def _check_csv_out(path: str) -> Path:
    """--csv FILE, checked before scoring: a new file, or one this command wrote (replaced); never a user's file."""
    out = Path(path)
    if out.is_dir():
        raise OneClassError(f"--csv {out}: is a folder; give a file name, e.g. scores.csv")
    if out.exists():
        try:
            with out.open(encoding="utf-8") as f:
                first = f.readline().rstrip("\n")
        except (OSError, UnicodeDecodeError):
            first = None
        if first not in CSV_HEADERS:
            raise OneClassError(f"--csv {out}: exists and is not a scores file of `oneclass score`; the file is left as "
                                "it is: choose another name")
    check_writable_dir(out.parent, "--csv")
    return out


def cmd_export(args: argparse.Namespace) -> None:
    """Export a saved model to ONNX: a graph from the raw uint8 image batch (n, C, H, W) to the default score (and
    the anomaly maps where the method has them), the threshold in its metadata; `score --model FILE.onnx` runs it."""
    from oneclass.export import export_onnx

    out = Path(args.out)
    if out.suffix.lower() != ".onnx":
        raise OneClassError(f"--out {out}: name the file FILE.onnx")
    if out.is_dir():
        raise OneClassError(f"--out {out}: is a folder; give a file name, e.g. model.onnx")
    if out.exists() and not args.force:
        raise OneClassError(f"--out {out}: exists; pass --force to replace it, or choose another name")
    check_writable_dir(out.parent, "--out")
    det = oneclass.load(args.model, device="cpu")
    export_onnx(det, out)
    print(f"{det.name} exported to {out} ({out.stat().st_size / 1e6:.1f} MB); score with: "
          f"oneclass score --model {out} IMAGES")


def cmd_score_video(args: argparse.Namespace) -> None:
    """Score every frame of a video (file or folder of frames) with a model trained on patches: frame score = max
    over the frame's patches. Writes frame_scores.csv, heatmaps of the most anomalous frames and the score curve."""
    from dataclasses import replace

    from oneclass.data.video import read_video
    from oneclass.report import video_figure
    from oneclass.video import load_patch_video

    integer(1, optional=True).check("--smooth", args.smooth)
    integer(1, optional=True).check("--stride", args.stride)
    video = load_patch_video(args.model, device=args.device, precision=args.precision)
    asked = {k: v for k, v in (("stride", args.stride), ("smooth", args.smooth)) if v is not None}
    video.settings = replace(video.settings, **asked)
    frames = read_video(args.video)
    out = prepare_output_dir(args.out, "--out", VIDEO_SCORE_FILES, replace_ours=True)
    t0 = time.perf_counter()
    patch_scores, scores = video.score_frames(frames)
    seconds = time.perf_counter() - t0
    lines = ["frame,score"] + [f"{t + 1},{v:.6g}" for t, v in enumerate(scores)]
    write_atomic(out / "frame_scores.csv", "\n".join(lines) + "\n")
    segments = np.array_split(np.arange(len(frames)), min(6, len(frames)))
    picks = [int(seg[np.argmax(scores[seg])]) for seg in segments]  # the peak of each sixth of the video
    heat = video.heatmaps(patch_scores[picks], frames.shape[1:])
    fig = video_figure(frames, picks, heat, scores, title=f"{Path(args.video).name}: {video.detector.name}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    write_atomic(out / "video.png", buffer.getvalue())
    top = np.argsort(scores)[::-1][:5] + 1
    print(f"{len(frames)} frames scored in {seconds:.1f} s ({1000 * seconds / len(frames):.1f} ms per frame); "
          f"most anomalous frames: {', '.join(map(str, top))}")
    print(f"wrote {out / 'frame_scores.csv'} and {out / 'video.png'}")


def cmd_calibrate(args: argparse.Namespace) -> None:
    """Set a saved model's decision threshold again, without retraining, on normal images it did not train on
    (every image under NORMALS, brought to the model's size and channels), at --fpr; the model is rewritten in
    place. Prints the new threshold and the range of false-positive rates to expect from it."""
    from oneclass.data.folder import read_folder

    number(0, 1, low_open=True, high_open=True, optional=True).check("--fpr", args.fpr)
    det = oneclass.load(args.model)
    old = det.decision_
    c, h, w = det.input_shape_
    normals = read_folder(args.normals, (h, w), c, "NORMALS")
    det.calibrate(normals.images, fpr=args.fpr)
    d = det.decision_
    with written_whole(args.model, "--model") as new:  # the model and its metrics.json, switched together
        det.save(new)
        metrics_file = Path(args.model) / "metrics.json"
        if metrics_file.is_file():  # the AUROCs still hold; rates at a threshold were measured at the old one
            data = metrics_file.read_bytes()
            try:
                metrics = json.loads(data)
            except ValueError:
                metrics = None
            if isinstance(metrics, dict):
                data = json.dumps(metrics | {"recalibrated": {
                    "threshold": d.threshold, "fpr": d.fpr, "normals": d.n, "note": "the rates at a threshold above "
                    "were measured at the threshold before `oneclass calibrate`"}}, indent=2, default=list) + "\n"
            write_atomic(new / "metrics.json", data)  # kept as it was where it is not ours to read
    print(f"{len(normals.paths)} normal images under {args.normals}: {normals.summary()}")
    print(f"threshold {d.score} > {d.threshold:.6g} (was {'none' if old is None else f'{old.threshold:.6g}'}), set to "
          f"flag {d.fpr:.1%} of them; {fpr_range_text(d)}; model {args.model} updated")


def fpr_range_text(d) -> str:
    """What false-positive rate to expect on new normal images from a threshold set on `d.n` of them."""
    interval = d.fpr_interval()
    if interval is None:
        return "the false-positive rate to expect is unknown (a model of an older version)"
    needed = d.normals_needed(d.fpr)
    advice = (f"{needed} normals would keep it within {d.fpr / 2:.1%} to {1.5 * d.fpr:.1%}" if needed is not None
              else "more normals narrow it")
    return (f"on new normal images expect a false-positive rate of {interval[0]:.1%} to {interval[1]:.1%} "
            f"(90 % of the time, from {d.n} normals; {advice}: --val-images or oneclass calibrate)")


def add_parsers(sub: argparse._SubParsersAction, methods: list[str]) -> None:
    """The parsers of `score`, `score-video`, `export` and `calibrate`."""
    p = sub.add_parser("score", help="score images with a saved model", description=cmd_score.__doc__)
    p.add_argument("--model", required=True, help="model folder written by `oneclass train`, or FILE.onnx from `export`")
    p.add_argument("images", nargs="+", help="image files or folders (a folder's normal/ and abnormal/ are read too)")
    p.add_argument("--json", action="store_true", help="print JSON instead of one line per image")
    p.add_argument("--csv", default=None, metavar="FILE", help="also write path,score,normalised,anomalous per image")
    p.add_argument("--heatmaps", default=None, metavar="DIR",
                   help="also write each image with its anomaly map over it (methods with maps)")
    add_scoring_flags(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("score-video", help="score the frames of a video with a model trained on patches",
                       description=cmd_score_video.__doc__)
    p.add_argument("--model", required=True, help="model folder written by `oneclass train-video` (or `train`)")
    p.add_argument("video", help="a video file (decoded by PyAV) or a folder of frames")
    p.add_argument("--out", default="video-scores", help="folder for frame_scores.csv and video.png (default: %(default)s)")
    p.add_argument("--stride", type=int, default=None, help="pixels between patches (default: as trained)")
    p.add_argument("--smooth", type=int, default=None,
                   help="moving average of frame scores over N frames (default: as trained, else off)")
    add_scoring_flags(p)
    p.set_defaults(func=cmd_score_video)

    p = sub.add_parser("export", help="export a saved model to ONNX (scored by onnxruntime)", description=cmd_export.__doc__)
    p.add_argument("--model", required=True, help="model folder written by `oneclass train`")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="the format (default: %(default)s)")
    p.add_argument("--out", required=True, help="the file to write, FILE.onnx")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("calibrate", help="set a saved model's decision threshold again on held-out normal images",
                       description=cmd_calibrate.__doc__)
    p.add_argument("--model", required=True, help="model folder written by `oneclass train`")
    p.add_argument("normals", help="a folder of normal images the model did not train on (subfolders too)")
    p.add_argument("--fpr", type=float, default=None,
                   help="false-positive rate to aim at (default: the model's threshold_fpr, 5 %% unless set)")
    p.set_defaults(func=cmd_calibrate)
