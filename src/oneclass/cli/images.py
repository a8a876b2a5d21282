"""`oneclass train --images DIR`: train on a folder of your own normal images (and test on a labelled folder)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from oneclass.cli.common import MODEL_FILES, clear_model_folder, epoch_logging
from oneclass.cli.score import fpr_range_text
from oneclass.errors import OneClassError
from oneclass.files import prepare_output_dir, write_atomic
from oneclass.params import integer
from oneclass.settings import overrides_from, resolve


def train_on_images(args: argparse.Namespace) -> None:
    """Read every image under --images (and --val-images, --test) before training; train; print the threshold and,
    with --test, the AUROC of every score; save the model (and metrics.json)."""
    from oneclass.core import create
    from oneclass.data.folder import read_folder, read_test_folder
    from oneclass.metrics import auroc

    for flag, value in (("--normal-class", args.normal_class), ("--val-normal", args.val_normal),
                        ("--val-outliers", args.val_outliers)):
        if value is not None:
            raise OneClassError(f"{flag} goes with --dataset; with --images every image is normal (held-out "
                                "normals: --val-images DIR)")
    preset = args.preset
    overrides = overrides_from(args.set, args.epochs, args.device, args.precision)
    params, split_options = resolve(args.method, preset, overrides, args.seed)
    if split_options:
        raise OneClassError(f"--set {next(iter(split_options))}: a protocol option; --images has no protocol")
    if args.size is not None:
        for value in args.size:
            integer(1, 1024).check("--size", value)
    det = create(args.method, **params)
    train = read_folder(args.images, None if args.size is None else tuple(args.size), args.channels)
    val = read_folder(args.val_images, train.size, train.channels, "--val-images") if args.val_images else None
    test = read_test_folder(args.test, train.size, train.channels) if args.test else None
    prepare_output_dir(args.out, "--out", MODEL_FILES, force=args.force)
    print(f"{args.method} (preset {preset}) on {len(train.paths)} images under {args.images}: {train.summary()}",
          flush=True)
    start = time.perf_counter()
    det.fit(train.images, val=None if val is None else (val.images, np.zeros(len(val.paths), np.int64)),
            callbacks=epoch_logging())
    fit_seconds = time.perf_counter() - start
    d = det.decision_
    if d is not None:
        print(f"  threshold: {d.score} > {d.threshold:.6g}, set to flag {d.fpr:.0%} of {d.n} {d.source} normal images; "
              f"{fpr_range_text(d)}")
    clear_model_folder(args.out)
    out = det.save(args.out)
    if test is not None:
        folder, labels = test
        scores = det.score(folder.images)
        aurocs = {name: round(auroc(labels, values), 5) for name, values in scores.items()}
        metrics = {"method": det.name, "preset": preset, "images": str(args.images), "test": str(args.test),
                   "n_train": len(train.paths), "n_test": len(labels), "n_anomalous": int(labels.sum()),
                   "size": list(train.size), "channels": train.channels, "default_score": scores.default_name,
                   "auroc": aurocs, "fit_seconds": round(fit_seconds, 2), "params": det.get_params()}
        write_atomic(out / "metrics.json", json.dumps(metrics, indent=2, default=list) + "\n")
        print(f"  test: {int((labels == 0).sum())} normal images and {int(labels.sum())} anomalies under {args.test}")
        width = max(len(name) for name in aurocs)
        for name, value in aurocs.items():
            print(f"  AUROC {name:{width}s} {value:.4f}{'  (default)' if name == scores.default_name else ''}")
    print(f"  fit {fit_seconds:.1f} s; model saved to {Path(out)}; score images with: "
          f"oneclass score --model {out} IMAGES")
