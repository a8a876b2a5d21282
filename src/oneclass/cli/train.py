"""`demo`, `train` and `train-video`: the commands that train a detector and save it."""

from __future__ import annotations

import argparse
import json

from oneclass.cli.common import (
    PROTOCOL_HELP,
    REPORT_FILES,
    add_training_flags,
    check_normal_class,
    epoch_logging,
    model_output,
    settings_text,
)
from oneclass.cli.images import train_on_images
from oneclass.data.catalog import DATASETS, load_dataset
from oneclass.data.protocols import PROTOCOLS, make_split
from oneclass.errors import OneClassError
from oneclass.files import prepare_output_dir, write_atomic
from oneclass.params import integer, number
from oneclass.settings import overrides_from, resolve

#: the methods `oneclass demo` trains unless told otherwise: the recommended detector, two of the papers' methods and
#: the baselines
DEMO_METHODS = ("knn_geom", "adacl", "oled", "ae", "cae", "vae", "dsvdd", "ocsvm")
#: `demo --video`'s: those that train on its thousands of patches in seconds (about a minute in all on 2 cores;
#: OLED alone takes 6 minutes, results/demo-video-walls.txt)
VIDEO_DEMO_METHODS = ("knn_geom", "adacl", "ae", "ocsvm")
#: `demo --defects`'s: two methods with anomaly maps, fast at 64×64
DEFECTS_DEMO_METHODS = ("knn_geom", "ae")
#: the protocol options `train-video` has flags for
VIDEO_OPTIONS = ("patch_size", "stride", "train_patches", "min_motion", "max_train_patches")

def cmd_demo(args: argparse.Namespace) -> None:
    """Train ADACL, OLED and the baselines on the embedded Fashion-MNIST subset for one class (fast presets); print
    a table; write a report.
    With --video: on generated surveillance-like scenes, patch by patch, scored per frame. With --defects: on the
    generated defects data set, per image and per pixel."""
    from oneclass.demo import demo_detectors, run_defects_demo, run_demo, run_video_demo

    if args.video and args.defects:
        raise OneClassError("demo: --video or --defects, one of the two")
    kind = "video" if args.video else "defects" if args.defects else None
    args.out = args.out or (f"demo-{kind}-report" if kind else "demo-report")
    args.methods = args.methods or ",".join({"video": VIDEO_DEMO_METHODS, "defects": DEFECTS_DEMO_METHODS}.get(
        kind, DEMO_METHODS))
    overrides = overrides_from(args.set, args.epochs, args.device, args.precision)
    detectors, split_options = demo_detectors(args.methods.split(","), args.preset, overrides, args.seed)
    prepare_output_dir(args.out, "--out", (*REPORT_FILES, "models"), replace_ours=True)
    if args.video:
        run_video_demo(detectors, split_options, args.seed, settings_text(args), args.out)
    elif args.defects:
        run_defects_demo(detectors, args.seed, settings_text(args), args.out)
    else:
        check_normal_class("fashion-mnist-mini", args.normal_class)
        run_demo(detectors, split_options, args.normal_class, args.seed, settings_text(args), args.out)


def cmd_train(args: argparse.Namespace) -> None:
    """Train one method on your own images (--images DIR: every image under it is normal) or on one
    dataset/protocol/normal class (--dataset); save the model, and with a test set its metrics."""
    if (args.images is None) == (args.dataset is None):
        raise OneClassError("train: give --images DIR (your own normal images) or --dataset NAME, one of the two")
    if args.images is not None:
        return train_on_images(args)
    for flag, value in (("--val-images", args.val_images), ("--test", args.test), ("--size", args.size),
                        ("--channels", args.channels)):
        if value is not None:
            raise OneClassError(f"{flag} goes with --images; a --dataset's split gives the test set and sizes")
    if args.normal_class is None:
        raise OneClassError(f"--dataset {args.dataset} needs --normal-class: the class trained on as normal")
    from oneclass.core import create
    from oneclass.evaluation import evaluate

    check_normal_class(args.dataset, args.normal_class)
    overrides = overrides_from(args.set, args.epochs, args.device, args.precision)
    overrides.update({k: v for k, v in (("val_normal", args.val_normal), ("val_outliers", args.val_outliers))
                      if v is not None})
    params, split_options = resolve(args.method, args.preset, overrides, args.seed, args.protocol)
    det = create(args.method, **params)
    data = load_dataset(args.dataset, args.data_root, download=not args.no_download)
    split = make_split(args.protocol, data, args.normal_class, seed=args.seed, **split_options)
    with model_output(args.out, args.force) as new:
        print(f"{args.method} on {args.dataset} ({args.protocol}), normal class {args.normal_class}: "
              f"{len(split.x_train)} train, {len(split.x_test)} test images", flush=True)
        result = evaluate(det, split, dataset=args.dataset, normal_class=args.normal_class, preset=args.preset,
                          overrides=overrides, callbacks=epoch_logging())
        det.save(new)
        write_atomic(new / "metrics.json", json.dumps(result.line(), indent=2, default=list) + "\n")
    for name, value in result.auroc.items():
        print(f"  AUROC {name:8s} {value:.4f}{'  (default)' if name == result.default_score else ''}")
    print(f"  fit {result.fit_seconds:.1f} s, score {result.score_seconds:.1f} s; model saved to {args.out}")


def cmd_train_video(args: argparse.Namespace) -> None:
    """Train one method on the patches of normal video (files or folders of frames); save the model with the
    patch settings that `oneclass score-video` reuses."""
    from oneclass.core import create
    from oneclass.data.video import read_video
    from oneclass.video import PatchSettings, PatchVideoDetector

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
    video = PatchVideoDetector(create(args.method, **params), PatchSettings(
        patch_size=patch["patch_size"], stride=patch["stride"], train_patches=patch["train_patches"],
        min_motion=patch["min_motion"], max_train_patches=patch["max_train_patches"]))
    clips = [read_video(v) for v in args.videos]
    with model_output(args.out, args.force) as new:
        patches = video.training_patches(clips, args.seed)
        print(f"{args.method}: {len(patches)} training patches of {patch['patch_size']}×{patch['patch_size']} from "
              f"{sum(len(c) for c in clips)} frames of {len(clips)} video(s)", flush=True)
        video.fit(clips, patches, callbacks=epoch_logging())
        video.save(new, videos=[str(v) for v in args.videos])
    print(f"model saved to {args.out}")


def _add_demo_parser(sub: argparse._SubParsersAction) -> None:
    """The parser of `demo`."""
    p = sub.add_parser("demo", help="train knn_geom, ADACL, OLED and the baselines on the embedded Fashion-MNIST subset; report",
                       description=cmd_demo.__doc__)
    p.add_argument("--normal-class", type=int, default=0, help="Fashion-MNIST class used as normal (0-9, default 0)")
    p.add_argument("--methods", default=None, help=f"comma-separated methods (default: {','.join(DEMO_METHODS)}; with "
                                                    f"--video: {','.join(VIDEO_DEMO_METHODS)}; with --defects: "
                                                    f"{','.join(DEFECTS_DEMO_METHODS)})")
    add_training_flags(p, many=True, preset="fast")
    p.add_argument("--out", default=None, help="report folder (default: demo-report; demo-video-report, "
                                                 "demo-defects-report)")
    p.add_argument("--video", action="store_true",
                   help="the video demo: generated scenes (UCSD layout, made once in the data cache), scored per frame")
    p.add_argument("--defects", action="store_true",
                   help="the defects demo: generated textures and an object with defects and masks (MVTec AD's "
                        "layout, made once in the data cache), maps scored per pixel")
    p.set_defaults(func=cmd_demo)


def add_parsers(sub: argparse._SubParsersAction, methods: list[str]) -> None:
    """The parsers of `demo`, `train` and `train-video`."""
    _add_demo_parser(sub)

    p = sub.add_parser("train", help="train one method on your images (--images DIR) or a dataset; save the model",
                       description=cmd_train.__doc__)
    p.add_argument("--method", required=True, choices=methods)
    p.add_argument("--images", default=None, metavar="DIR",
                   help="train on your own images: every image under DIR (subfolders too) is normal")
    p.add_argument("--val-images", default=None, metavar="DIR",
                   help="with --images: normal images that select the epoch and set the threshold")
    p.add_argument("--test", default=None, metavar="DIR",
                   help="with --images: test images in normal/ (or good/) and other subfolders (anomalies); prints "
                        "AUROC and writes metrics.json")
    p.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="with --images: the size images are resized to (default: their median size, at most "
                        "128 pixels a side)")
    p.add_argument("--channels", type=int, choices=[1, 3], default=None,
                   help="with --images: 1 (grey) or 3 (colour) (default: what most of the images are)")
    p.add_argument("--dataset", default=None, choices=list(DATASETS), help="or train on a known dataset")
    p.add_argument("--normal-class", type=int, default=None, help="with --dataset: the class trained on as normal")
    p.add_argument("--protocol", default="one-vs-rest", choices=list(PROTOCOLS), help=PROTOCOL_HELP)
    p.add_argument("--out", required=True, help="folder for the model (config.json, weights.safetensors, metrics.json)")
    p.add_argument("--data-root", default=None, help="folder holding DATASET/ (else $ONECLASS_DATA, else the cache)")
    p.add_argument("--no-download", action="store_true", help="fail instead of downloading a missing dataset")
    add_training_flags(p)
    p.add_argument("--val-normal", type=int, default=None,
                   help="normal training images held out for model selection (default: the method's paper set where "
                        "it has one, e.g. OLED's 150 + 150, else 0)")
    p.add_argument("--val-outliers", type=int, default=None,
                   help="outliers of other classes from the training split in that set (default: as --val-normal)")
    p.add_argument("--force", action="store_true", help="replace the model already in --out")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("train-video", help="train one method on patches of normal video; save the model",
                       description=cmd_train_video.__doc__)
    p.add_argument("--method", required=True, choices=methods)
    p.add_argument("videos", nargs="+", help="normal video files or folders of frames")
    p.add_argument("--out", required=True, help="folder for the model (config.json with the patch settings, detector/)")
    p.add_argument("--patch-size", type=int, default=30, help="patch side in pixels (default: %(default)s)")
    p.add_argument("--stride", type=int, default=25, help="pixels between patches (default: %(default)s)")
    p.add_argument("--train-patches", default="motion", choices=["motion", "all"],
                   help="train on moving patches only (default) or on all")
    p.add_argument("--min-motion", type=float, default=0.01,
                   help="fraction of a patch's pixels that must change for it to count as moving (default: %(default)s)")
    p.add_argument("--max-patches", type=int, default=None, help="train on at most this many patches, drawn at random")
    add_training_flags(p)
    p.add_argument("--force", action="store_true", help="replace the model already in --out")
    p.set_defaults(func=cmd_train_video)
