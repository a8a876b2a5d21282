"""`oneclass` command line: argument parsing and one call into the library per command. User errors print one
line and exit with status 2. Heavy modules (torch, the methods) are imported by the commands that use them, so
`oneclass --help` stays fast."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import oneclass
from oneclass.core.results import CSV_COLUMNS, ImageResult, image_results, results_csv
from oneclass.data.catalog import DATASETS, dataset_info, load_dataset, search_roots, verify_dataset
from oneclass.data.protocols import PROTOCOLS, make_split, protocol_options
from oneclass.errors import OneClassError
from oneclass.files import check_writable_dir, prepare_output_dir, write_atomic
from oneclass.params import integer, number
from oneclass.settings import MAX_IMAGES, MAX_UPLOAD_MB, PRESETS, SPLIT_OPTIONS, overrides_from, resolve

#: `--protocol`'s help: each protocol with the options `--set` gives it
PROTOCOL_HELP = "the split of the data; its options, set with --set KEY=VALUE: " + "; ".join(
    f"{name}: {', '.join(protocol_options(name))}" for name in PROTOCOLS)
#: what each kind of output folder holds: other files in a folder given as --out make the command refuse it
MODEL_FILES = ("config.json", "weights.safetensors", "metrics.json", "video.json")
REPORT_FILES = ("report.md", "report.html", "*.png")
#: the header of `score --csv` files, now and before 0.2 (a file with either is ours to replace)
CSV_HEADERS = (",".join(CSV_COLUMNS), "path,score,normalised,anomalous")
VIDEO_SCORE_FILES = ("frame_scores.csv", "video.png")
#: the methods `oneclass demo` trains unless told otherwise: the recommended detector, two of the papers' methods and
#: the baselines
DEMO_METHODS = ("knn_geom", "adacl", "oled", "ae", "cae", "vae", "dsvdd", "ocsvm")
#: the protocol options `train-video` has flags for
VIDEO_OPTIONS = ("patch_size", "stride", "train_patches", "min_motion", "max_train_patches")


# ------------------------------------------------------------------------------------------- helpers


def _check_normal_class(dataset: str, normal_class: int, option: str = "--normal-class") -> None:
    classes = dataset_info(dataset).classes
    if classes and not 0 <= normal_class < len(classes):
        raise OneClassError(f"{option} {normal_class}: {dataset} has classes 0-{len(classes) - 1}")


def _settings_text(args: argparse.Namespace) -> str:
    """The preset and command-line settings, for a report."""
    extra = [*args.set, *([f"epochs={args.epochs}"] if args.epochs is not None else [])]
    return f"Preset {args.preset}" + (f"; settings {', '.join(extra)}" if extra else "")


# ------------------------------------------------------------------------------------------- commands


def cmd_demo(args: argparse.Namespace) -> None:
    """Train ADACL, OLED and the baselines on the embedded Fashion-MNIST subset for one class (fast presets); print
    a table; write a report.
    With --video: on generated surveillance-like scenes, patch by patch, scored per frame."""
    from oneclass.demo import demo_detectors, run_demo, run_video_demo

    overrides = overrides_from(args.set, args.epochs, args.device, args.precision)
    detectors, split_options = demo_detectors(args.methods.split(","), args.preset, overrides, args.seed)
    prepare_output_dir(args.out, "--out", (*REPORT_FILES, "models"), replace_ours=True)
    if args.video:
        run_video_demo(detectors, split_options, args.seed, _settings_text(args), args.out)
    else:
        _check_normal_class("fashion-mnist-mini", args.normal_class)
        run_demo(detectors, split_options, args.normal_class, args.seed, _settings_text(args), args.out)


def cmd_train(args: argparse.Namespace) -> None:
    """Train one method on one dataset/protocol/normal class, evaluate it, save the model and its metrics."""
    from oneclass.core import create
    from oneclass.evaluation import evaluate

    _check_normal_class(args.dataset, args.normal_class)
    overrides = overrides_from(args.set, args.epochs, args.device, args.precision)
    overrides.update({k: v for k, v in (("val_normal", args.val_normal), ("val_outliers", args.val_outliers))
                      if v is not None})
    params, split_options = resolve(args.method, args.preset, overrides, args.seed, args.protocol)
    det = create(args.method, **params)
    data = load_dataset(args.dataset, args.data_root, download=not args.no_download)
    split = make_split(args.protocol, data, args.normal_class, seed=args.seed, **split_options)
    prepare_output_dir(args.out, "--out", MODEL_FILES, force=args.force)
    print(f"{args.method} on {args.dataset} ({args.protocol}), normal class {args.normal_class}: "
          f"{len(split.x_train)} train, {len(split.x_test)} test images", flush=True)
    result = evaluate(det, split, dataset=args.dataset, normal_class=args.normal_class, preset=args.preset,
                      overrides=overrides)
    out = det.save(args.out)
    (out / "video.json").unlink(missing_ok=True)  # --force over a train-video model: its patch settings go with it
    write_atomic(out / "metrics.json", json.dumps(result.line(), indent=2, default=list) + "\n")
    for name, value in result.auroc.items():
        print(f"  AUROC {name:8s} {value:.4f}{'  (default)' if name == result.default_score else ''}")
    print(f"  fit {result.fit_seconds:.1f} s, score {result.score_seconds:.1f} s; model saved to {out}")


def _collect_images(inputs: list[str]) -> list[Path]:
    from oneclass.data.images import IMAGE_SUFFIXES, list_images

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
    """Score image files or folders with a saved model: per image its scores, the normalised score in [0, 1] and the
    decision (anomalous above the threshold `train` set at a false-positive rate); optionally a CSV and heatmaps."""
    from oneclass.data.images import read_images
    from oneclass.overlay import heatmap_overlay

    det = _load_for_scoring(args)
    paths = _collect_images(args.images)
    if args.heatmaps is not None and not det.has_anomaly_maps:
        raise OneClassError(f"--heatmaps: {det.name} has no anomaly maps; leave --heatmaps out")
    csv_file = _check_csv_out(args.csv) if args.csv is not None else None
    heat_dir = prepare_output_dir(args.heatmaps, "--heatmaps", ("*.png",), replace_ours=True) if args.heatmaps else None
    c, h, w = det.input_shape_
    images = read_images(paths, size=(h, w), channels=c)
    results = image_results(det, images, [str(p) for p in paths], maps=heat_dir is not None)
    if csv_file is not None:
        write_atomic(csv_file, results_csv(results))
    if heat_dir is not None:
        heat_dir.mkdir(parents=True, exist_ok=True)
        for i, (p, r) in enumerate(zip(paths, results, strict=True)):
            heatmap_overlay(images[i], r.map).save(heat_dir / f"{i + 1:04d}-{p.stem}.png")
    if args.json:
        print(json.dumps({"model": str(args.model), "method": det.name, "default_score": results[0].default_name,
                          "decision": None if det.decision_ is None else det.decision_.to_json(),
                          "images": [r.to_json() for r in results]}, indent=2))
    else:
        _print_results(det, results)
    for label, target in (("scores", csv_file), ("heatmaps", heat_dir)):
        if target is not None:
            print(f"wrote {label} to {target}", file=sys.stderr if args.json else sys.stdout)


def _print_results(det, results: list[ImageResult]) -> None:
    """One line per image (its default score, verdict and other scores), the threshold, and the AUROC where the
    images lie in folders named normal/ and abnormal/."""
    from oneclass.metrics import auroc

    width = max(len(r.name) for r in results)
    name = results[0].default_name
    for r in results:
        verdict = "" if r.anomalous is None else f"  normalised={r.normalised:.3f}  {'ANOMALOUS' if r.anomalous else 'normal'}"
        others = "  ".join(f"{k}={v:.6g}" for k, v in r.scores.items() if k != name)
        print(f"{r.name:{width}s}  {name}={r.default_score:.6g}{verdict}  {others}".rstrip())
    d = det.decision_
    if d is not None:
        print(f"threshold {name} > {d.threshold:.6g} (false-positive rate {d.fpr:.0%} on {d.n} {d.source} normal "
              f"images): {sum(bool(r.anomalous) for r in results)} of {len(results)} anomalous")
    else:
        print(f"no decisions: {det.no_decision_reason()}")
    folders = [Path(r.name).parent.name for r in results]
    labels = np.array([1 if f == "abnormal" else 0 if f == "normal" else -1 for f in folders])
    if (labels >= 0).all() and 0 < labels.sum() < len(labels):
        print(f"AUROC ({name}, normal/ vs abnormal/): {auroc(labels, [r.default_score for r in results]):.4f}")


def _load_for_scoring(args: argparse.Namespace):
    """The model of `score --model`: a folder written by `train` (a Detector), or an ONNX file from `export`
    (an OnnxModel, run by onnxruntime)."""
    if str(args.model).lower().endswith(".onnx"):
        from oneclass.export import OnnxModel

        if args.device not in (None, "cpu", "auto") or args.precision not in (None, "fp32"):
            raise OneClassError("--device and --precision do not apply to an ONNX file (onnxruntime on the CPU, fp32)")
        return OnnxModel(args.model)
    return oneclass.load(args.model, device=args.device, precision=args.precision)


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


def cmd_train_video(args: argparse.Namespace) -> None:
    """Train one method on the patches of normal video (files or folders of frames); save the model with the
    patch settings that `oneclass score-video` reuses."""
    from oneclass.core import create
    from oneclass.data.video import read_video, training_patches

    overrides = overrides_from(args.set, args.epochs, args.device, args.precision)
    params, split_options = resolve(args.method, args.preset, overrides, args.seed)
    unused = sorted(set(split_options) - set(VIDEO_OPTIONS))
    if unused:
        raise OneClassError(f"--set {unused[0]}: train-video has no such option; its patch options are "
                            f"{', '.join(VIDEO_OPTIONS)}")
    patch = {"patch_size": args.patch_size, "stride": args.stride, "train_patches": args.train_patches,
             "min_motion": args.min_motion, "max_train_patches": args.max_patches, **split_options}
    for option, flag, rule in (("patch_size", "--patch-size", integer(1)), ("stride", "--stride", integer(1)),
                               ("min_motion", "--min-motion", number(0, 1)),
                               ("max_train_patches", "--max-patches", integer(1, optional=True))):
        rule.check(flag, patch[option])
    if patch["train_patches"] not in ("motion", "all"):
        raise OneClassError(f"train_patches must be 'motion' or 'all', got {patch['train_patches']!r}")
    det = create(args.method, **params)
    clips = [read_video(v) for v in args.videos]
    prepare_output_dir(args.out, "--out", MODEL_FILES, force=args.force)
    patches = training_patches(clips, patch["patch_size"], patch["stride"], patch["train_patches"],
                               min_motion=patch["min_motion"], max_patches=patch["max_train_patches"],
                               rng=np.random.default_rng(args.seed))
    print(f"{args.method}: {len(patches)} training patches of {patch['patch_size']}×{patch['patch_size']} from "
          f"{sum(len(c) for c in clips)} frames of {len(clips)} video(s)", flush=True)
    det.fit(patches)
    out = det.save(args.out)
    video = {"patch_size": patch["patch_size"], "stride": patch["stride"], "train_patches": patch["train_patches"],
             "min_motion": patch["min_motion"], "n_train_patches": len(patches), "videos": [str(v) for v in args.videos]}
    write_atomic(out / "video.json", json.dumps(video, indent=2) + "\n")
    print(f"model saved to {out}")


def cmd_score_video(args: argparse.Namespace) -> None:
    """Score every frame of a video (file or folder of frames) with a model trained on patches: frame score = max
    over the frame's patches. Writes frame_scores.csv, heatmaps of the most anomalous frames and the score curve."""
    from oneclass.data.video import heatmaps, read_video, score_clip
    from oneclass.report import video_figure

    integer(1).check("--smooth", args.smooth)
    integer(1, optional=True).check("--stride", args.stride)
    det = oneclass.load(args.model, device=args.device, precision=args.precision)
    stride = args.stride or _trained_stride(Path(args.model) / "video.json") or det.input_shape_[-1]
    frames = read_video(args.video)
    out = prepare_output_dir(args.out, "--out", VIDEO_SCORE_FILES, replace_ours=True)
    t0 = time.perf_counter()
    patch_scores, scores = score_clip(det, frames, stride, args.smooth)
    seconds = time.perf_counter() - t0
    lines = ["frame,score"] + [f"{t + 1},{v:.6g}" for t, v in enumerate(scores)]
    write_atomic(out / "frame_scores.csv", "\n".join(lines) + "\n")
    segments = np.array_split(np.arange(len(frames)), min(6, len(frames)))
    picks = [int(seg[np.argmax(scores[seg])]) for seg in segments]  # the peak of each sixth of the video
    heat = heatmaps(patch_scores[picks], frames.shape[1:], det.input_shape_[-1], stride)
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


def cmd_serve(args: argparse.Namespace) -> None:
    """Serve saved models over HTTP: a page at / to score images from a browser, and the JSON API (GET /health,
    GET /models, POST /score with multipart fields `files` and an optional `model`)."""
    try:
        import uvicorn

        from oneclass.serve import create_app, load_models
    except ImportError as exc:
        raise OneClassError(f"serve needs FastAPI and uvicorn ({exc.name} is missing): pip install 'oneclass[serve]'") from None
    number(0, low_open=True).check("--max-upload-mb", args.max_upload_mb)
    integer(1).check("--max-images", args.max_images)
    integer(1, 65535).check("--port", args.port)
    models = load_models(args.model, device=args.device)
    app = create_app(models, max_upload_mb=args.max_upload_mb, max_images=args.max_images)
    for m in models.values():
        print(f"model {m.name}: {m.detector.name}, input {tuple(m.detector.input_shape_)}", flush=True)
    print(f"serving on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


def cmd_bench(args: argparse.Namespace) -> None:
    """Run a grid of trainings (methods × normal classes × seeds); one JSON line per finished cell in --out.

    A rerun with the same --out skips the cells already there, so an interrupted grid resumes where it stopped.
    """
    from oneclass.bench import ResultsFile, changed_settings, make_cells, parse_classes, read_results, run_grid
    from oneclass.bench.results import cell_key
    from oneclass.runtime import progress

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
    overrides = overrides_from(args.set, args.epochs, args.device, args.precision)
    integer(1).check("--workers", args.workers)
    cells = make_cells(methods, args.dataset, args.protocol, classes, seeds, args.preset, overrides, args.track_epochs)
    out = ResultsFile(args.out)
    set_aside = out.check()
    if set_aside:
        print(f"{set_aside} line(s) of {out.path} named a cell but lacked or mistyped its metrics: moved to "
              f"{out.rejected_path}; those cells run again", flush=True)
    load_dataset(args.dataset, args.data_root, download=not args.no_download)  # fetch once, before any worker
    finished = read_results(out.path)
    done = len({cell_key(row) for row in finished} & {c.key() for c in cells})
    changed = changed_settings(cells, finished)
    if changed:
        cell, what = changed[0]
        print(f"note: {len(changed)} of these cells are in {out.path} with other hyper-parameters than they get now "
              f"(a default changed since; e.g. {cell.method} class {cell.normal_class} seed {cell.seed}: {what}); "
              "they are kept and not run again: give another --out to run them with today's settings", flush=True)
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


def _add_training_flags(p: argparse.ArgumentParser, many: bool = False, seed: bool = True, preset: str = "paper") -> None:
    """The flags of every command that trains: --preset, --set, --epochs, --device and (unless it takes --seeds)
    --seed. `many`: the command trains several methods, and the settings apply to each."""
    every = "every method's " if many else ""
    p.add_argument("--preset", default=preset, choices=list(PRESETS),
                   help="paper: each method's paper settings; fast: our documented CPU budget (default: %(default)s)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help=f"a hyper-parameter of {'every' if many else 'the'} method or a protocol option "
                        f"({', '.join(SPLIT_OPTIONS[:3])}, ...), repeatable; values are read as JSON where they parse")
    p.add_argument("--epochs", type=int, default=None, help=f"override {every}epochs")
    _add_device_flag(p, "auto: a CUDA GPU if there is one, else the CPU")
    p.add_argument("--precision", default=None, choices=["auto", "fp32", "bf16"],
                   help="training precision: bf16 autocast, fp32, or auto = bf16 where the device computes it natively "
                        "(default: auto)")
    if seed:
        p.add_argument("--seed", type=int, default=0, help="seed of the split and of training (default: 0)")


def _add_device_flag(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--device", default=None, help=f"cpu, cuda, cuda:1, mps or auto (default: {default})")


def _add_scoring_flags(p: argparse.ArgumentParser) -> None:
    _add_device_flag(p, "as trained, else auto")
    p.add_argument("--precision", default=None, choices=["auto", "fp32", "bf16"],
                   help="scoring precision (default: fp32; bf16 is faster where the device computes it natively)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oneclass", description="One-class novelty and anomaly detection on images and video.")
    parser.add_argument("--version", action="version", version=f"oneclass {oneclass.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    methods = oneclass.available()

    p = sub.add_parser("demo", help="train knn_geom, ADACL, OLED and the baselines on the embedded Fashion-MNIST subset; report",
                       description=cmd_demo.__doc__)
    p.add_argument("--normal-class", type=int, default=0, help="Fashion-MNIST class used as normal (0-9, default 0)")
    p.add_argument("--methods", default=",".join(DEMO_METHODS), help="comma-separated methods (default: %(default)s)")
    _add_training_flags(p, many=True, preset="fast")
    p.add_argument("--out", default="demo-report", help="report folder (default: %(default)s)")
    p.add_argument("--video", action="store_true",
                   help="the video demo: generated scenes (UCSD layout, made once in the data cache), scored per frame")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train and evaluate one method; save the model", description=cmd_train.__doc__)
    p.add_argument("--method", required=True, choices=methods)
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--normal-class", type=int, required=True)
    p.add_argument("--protocol", default="one-vs-rest", choices=list(PROTOCOLS), help=PROTOCOL_HELP)
    p.add_argument("--out", required=True, help="folder for the model (config.json, weights.safetensors, metrics.json)")
    p.add_argument("--data-root", default=None, help="folder holding DATASET/ (else $ONECLASS_DATA, else the cache)")
    p.add_argument("--no-download", action="store_true", help="fail instead of downloading a missing dataset")
    _add_training_flags(p)
    p.add_argument("--val-normal", type=int, default=None,
                   help="normal training images held out for model selection (default: the method's paper set where "
                        "it has one, e.g. OLED's 150 + 150, else 0)")
    p.add_argument("--val-outliers", type=int, default=None,
                   help="outliers of other classes from the training split in that set (default: as --val-normal)")
    p.add_argument("--force", action="store_true", help="replace the model already in --out")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("score", help="score images with a saved model", description=cmd_score.__doc__)
    p.add_argument("--model", required=True, help="model folder written by `oneclass train`, or FILE.onnx from `export`")
    p.add_argument("images", nargs="+", help="image files or folders (a folder's normal/ and abnormal/ are read too)")
    p.add_argument("--json", action="store_true", help="print JSON instead of one line per image")
    p.add_argument("--csv", default=None, metavar="FILE", help="also write path,score,normalised,anomalous per image")
    p.add_argument("--heatmaps", default=None, metavar="DIR",
                   help="also write each image with its anomaly map over it (methods with maps)")
    _add_scoring_flags(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("serve", help="serve saved models over HTTP: a page to score images and a JSON API",
                       description=cmd_serve.__doc__)
    p.add_argument("--model", required=True, action="append", help="model folder (repeatable; the first is the default)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD_MB, help="largest request body in MB (default: %(default)s)")
    p.add_argument("--max-images", type=int, default=MAX_IMAGES, help="most images in one request (default: %(default)s)")
    _add_device_flag(p, "as trained, else auto")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", help="export a saved model to ONNX (scored by onnxruntime)", description=cmd_export.__doc__)
    p.add_argument("--model", required=True, help="model folder written by `oneclass train`")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="the format (default: %(default)s)")
    p.add_argument("--out", required=True, help="the file to write, FILE.onnx")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("train-video", help="train one method on patches of normal video; save the model",
                       description=cmd_train_video.__doc__)
    p.add_argument("--method", required=True, choices=methods)
    p.add_argument("videos", nargs="+", help="normal video files or folders of frames")
    p.add_argument("--out", required=True, help="folder for the model (config.json, weights.safetensors, video.json)")
    p.add_argument("--patch-size", type=int, default=30, help="patch side in pixels (default: %(default)s)")
    p.add_argument("--stride", type=int, default=25, help="pixels between patches (default: %(default)s)")
    p.add_argument("--train-patches", default="motion", choices=["motion", "all"],
                   help="train on moving patches only (default) or on all")
    p.add_argument("--min-motion", type=float, default=0.01,
                   help="fraction of a patch's pixels that must change for it to count as moving (default: %(default)s)")
    p.add_argument("--max-patches", type=int, default=None, help="train on at most this many patches, drawn at random")
    _add_training_flags(p)
    p.add_argument("--force", action="store_true", help="replace the model already in --out")
    p.set_defaults(func=cmd_train_video)

    p = sub.add_parser("score-video", help="score the frames of a video with a model trained on patches",
                       description=cmd_score_video.__doc__)
    p.add_argument("--model", required=True, help="model folder written by `oneclass train-video` (or `train`)")
    p.add_argument("video", help="a video file (decoded by PyAV) or a folder of frames")
    p.add_argument("--out", default="video-scores", help="folder for frame_scores.csv and video.png (default: %(default)s)")
    p.add_argument("--stride", type=int, default=None, help="pixels between patches (default: as trained)")
    p.add_argument("--smooth", type=int, default=1, help="moving average of frame scores over N frames (default: off)")
    _add_scoring_flags(p)
    p.set_defaults(func=cmd_score_video)

    p = sub.add_parser("bench", help="run a benchmark grid, resumable, one JSON line per cell",
                       description=cmd_bench.__doc__)
    p.add_argument("--methods", required=True, help="comma-separated methods, e.g. ae,dsvdd")
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--protocol", default="one-vs-rest", choices=list(PROTOCOLS), help=PROTOCOL_HELP)
    p.add_argument("--classes", default="all", help="normal classes: all, 0-9, 0,2,5 (default: all); they run in numeric order")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default: 0)")
    _add_training_flags(p, many=True, seed=False)
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
