"""`oneclass train --images DIR`: train on a folder of your own normal images (and test on a labelled folder)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from oneclass.cli.common import epoch_logging, model_output
from oneclass.cli.score import fpr_range_text
from oneclass.errors import OneClassError
from oneclass.files import write_atomic
from oneclass.params import integer
from oneclass.settings import overrides_from, resolve


def train_on_images(args: argparse.Namespace) -> None:
    """Read every image under --images (and --val-images, --test) before training; train; print the threshold and,
    with a test set, the AUROC of every score; save the model (and metrics.json). A folder in MVTec AD's layout
    (train/good/, test/, ground_truth/) trains on train/good/ and tests on test/, pixels too."""
    from oneclass.core import create
    from oneclass.data.folder import read_folder, read_test_folder
    from oneclass.data.mvtec import categories, is_category, read_category

    for flag, value in (("--normal-class", args.normal_class), ("--val-normal", args.val_normal),
                        ("--val-outliers", args.val_outliers)):
        if value is not None:
            raise OneClassError(f"{flag} goes with --dataset; with --images every image is normal (held-out "
                                "normals: --val-images DIR)")
    overrides = overrides_from(args.set, args.epochs, args.device, args.precision)
    params, split_options = resolve(args.method, args.preset, overrides, args.seed)
    if split_options:
        raise OneClassError(f"--set {next(iter(split_options))}: a protocol option; --images has no protocol")
    if args.size is not None:
        for value in args.size:
            integer(1, 1024).check("--size", value)
    det = create(args.method, **params)
    if args.size is not None and args.size[0] != args.size[1] and det.square_only:
        raise OneClassError(f"--size {args.size[0]} {args.size[1]}: images must be square ({det.square_only})")
    size = None if args.size is None else tuple(args.size)
    found = categories(args.images) if Path(args.images).is_dir() else []
    if found and not is_category(args.images):
        raise OneClassError(f"--images {args.images}: holds the categories {', '.join(found)} (MVTec AD's layout); "
                            f"train on one, e.g. --images {Path(args.images) / found[0]}")
    category = read_category(args.images, size, args.channels, det.square_only) if found else None
    if category is not None and args.test:
        raise OneClassError(f"--test: {args.images} is in MVTec AD's layout, so its test/ folder is the test set")
    train = category.train if category else read_folder(args.images, size, args.channels, square=det.square_only)
    val = read_folder(args.val_images, train.size, train.channels, "--val-images") if args.val_images else None
    test = read_test_folder(args.test, train.size, train.channels) if args.test else None
    with model_output(args.out, args.force) as new:
        where = f"train/good/ of {args.images}" if category else f"images under {args.images}"
        print(f"{args.method} (preset {args.preset}) on {len(train.paths)} {where}: {train.summary()}", flush=True)
        start = time.perf_counter()
        det.fit(train.images, val=None if val is None else (val.images, np.zeros(len(val.paths), np.int64)),
                callbacks=epoch_logging())
        fit_seconds = time.perf_counter() - start
        d = det.decision_
        if d is not None:
            print(f"  threshold: {d.score} > {d.threshold:.6g}, set to flag {d.fpr:.0%} of {d.n} {d.source} normal "
                  f"images; {fpr_range_text(d)}")
        det.save(new)
        metrics = None
        if category is not None:
            metrics = category_metrics(det, category)
        elif test is not None:
            metrics = folder_metrics(det, *test, args.test)
        if metrics is not None:
            metrics = {"method": det.name, "preset": args.preset, "images": str(args.images),
                       "n_train": len(train.paths), "size": list(train.size), "channels": train.channels, **metrics,
                       "fit_seconds": round(fit_seconds, 2), "params": det.get_params()}
            write_atomic(new / "metrics.json", json.dumps(metrics, indent=2, default=list) + "\n")
    print(f"  fit {fit_seconds:.1f} s; model saved to {args.out}; score images with: "
          f"oneclass score --model {args.out} IMAGES")


def _print_aurocs(aurocs: dict[str, float], default: str) -> None:
    width = max(len(name) for name in aurocs)
    for name, value in aurocs.items():
        print(f"  AUROC {name:{width}s} {value:.4f}{'  (default)' if name == default else ''}")


def folder_metrics(det, folder, labels: np.ndarray, test_root: str) -> dict:
    """The AUROC of every score on a --test folder; printed, and returned for metrics.json."""
    from oneclass.metrics import auroc

    scores = det.score(folder.images)
    aurocs = {name: round(auroc(labels, values), 5) for name, values in scores.items()}
    print(f"  test: {int((labels == 0).sum())} normal images and {int(labels.sum())} anomalies under {test_root}")
    _print_aurocs(aurocs, scores.default_name)
    return {"test": str(test_root), "n_test": len(labels), "n_anomalous": int(labels.sum()),
            "default_score": scores.default_name, "auroc": aurocs}


def category_metrics(det, category) -> dict:
    """MVTec AD's measures on a category's test/ (image AUROC of every score and of the map's maximum, pixel AUROC,
    PRO); printed, and returned for metrics.json."""
    from oneclass.evaluation import localisation_metrics

    m = localisation_metrics(det, category)
    print(f"  test: {m['n_test'] - m['n_defective']} good images and {m['n_defective']} defective ones "
          f"({', '.join(m['image_auroc_per_defect'])}) under test/")
    _print_aurocs(m["image_auroc"], m["default_score"])
    if "pixel_auroc" in m:
        print(f"  pixel AUROC {m['pixel_auroc']:.4f}; PRO (to 30 % FPR) {m['pro']:.4f}")
    return m
