"""What the commands share: output-folder contents, the flags of commands that train or score, and small checks."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import oneclass
from oneclass.data.catalog import dataset_info
from oneclass.data.protocols import PROTOCOLS, protocol_options
from oneclass.errors import OneClassError
from oneclass.files import MODEL_FILES, prepare_output_dir, written_whole
from oneclass.settings import PRESETS, SPLIT_OPTIONS

#: `--protocol`'s help: each protocol with the options `--set` gives it
PROTOCOL_HELP = "the split of the data; its options, set with --set KEY=VALUE: " + "; ".join(
    f"{name}: {', '.join(protocol_options(name))}" for name in PROTOCOLS)
#: what a report folder holds: other files in a folder given as --out make the command refuse it
REPORT_FILES = ("report.md", "report.html", "*.png")


def check_normal_class(dataset: str, normal_class: int, option: str = "--normal-class") -> None:
    """Refuse a normal class the dataset does not have, naming the option."""
    classes = dataset_info(dataset).classes
    if classes and not 0 <= normal_class < len(classes):
        raise OneClassError(f"{option} {normal_class}: {dataset} has classes 0-{len(classes) - 1}")


def settings_text(args: argparse.Namespace) -> str:
    """The preset and command-line settings, for a report."""
    extra = [*args.set, *([f"epochs={args.epochs}"] if args.epochs is not None else [])]
    return f"Preset {args.preset}" + (f"; settings {', '.join(extra)}" if extra else "")


def collect_images(inputs: list[str]) -> tuple[list[Path], list[Path]]:
    """Image files named on the command line, or found in the folders named (and their normal/ and abnormal/); and
    each one's path relative to the folder it was found in (a file named: its name), which names its heatmap."""
    from oneclass.data.images import IMAGE_SUFFIXES, list_images

    paths: list[Path] = []
    relative: list[Path] = []
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
            relative += [f.relative_to(p) for f in found]
        elif p.is_file():
            paths.append(p)
            relative.append(Path(p.name))
        else:
            raise OneClassError(f"{p}: no such file or folder")
    return paths, relative


def load_for_scoring(args: argparse.Namespace):
    """The model of `score --model`: a folder written by `train` (a Detector), or an ONNX file from `export`
    (an OnnxModel, run by onnxruntime)."""
    if str(args.model).lower().endswith(".onnx"):
        from oneclass.export import OnnxModel

        if args.device not in (None, "cpu", "auto") or args.precision not in (None, "fp32"):
            raise OneClassError("--device and --precision do not apply to an ONNX file (onnxruntime on the CPU, fp32)")
        return OnnxModel(args.model)
    return oneclass.load(args.model, device=args.device, precision=args.precision)


def add_training_flags(p: argparse.ArgumentParser, many: bool = False, seed: bool = True,
                       preset: str = "fast") -> None:
    """The flags of every command that trains: --preset, --set, --epochs, --device and (unless it takes --seeds)
    --seed. `many`: the command trains several methods, and the settings apply to each."""
    every = "every method's " if many else ""
    p.add_argument("--preset", default=preset, choices=list(PRESETS),
                   help="fast: the library's defaults, our CPU budget (1,000 28×28 images: 0.1 s to 4.4 min on one "
                        "core, by method); paper: each paper's network and schedule (2 min to about 5 h) "
                        "(default: %(default)s)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help=f"a hyper-parameter of {'every' if many else 'the'} method or a protocol option "
                        f"({', '.join(SPLIT_OPTIONS[:3])}, ...), repeatable; values are read as JSON where they parse")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"override {every}epochs; it also caps the other training phases (Deep SVDD's pretraining "
                        "ae_epochs, G2D's detector_epochs)")
    add_device_flag(p, "auto: a CUDA GPU if there is one, else the CPU")
    p.add_argument("--precision", default=None, choices=["auto", "fp32", "bf16"],
                   help="training precision: bf16 autocast, fp32, or auto = bf16 where the device computes it natively "
                        "(default: auto)")
    if seed:
        p.add_argument("--seed", type=int, default=0, help="seed of the split and of training (default: 0)")


def add_device_flag(p: argparse.ArgumentParser, default: str) -> None:
    """Add --device with `default` described in its help."""
    p.add_argument("--device", default=None, help=f"cpu, cuda, cuda:1, mps or auto (default: {default})")


def add_scoring_flags(p: argparse.ArgumentParser) -> None:
    """Add the flags of the commands that score: --device and --precision."""
    add_device_flag(p, "as trained, else auto")
    p.add_argument("--precision", default=None, choices=["auto", "fp32", "bf16"],
                   help="scoring precision (default: fp32; bf16 is faster where the device computes it natively)")


@contextmanager
def model_output(path: str | Path, force: bool) -> Iterator[Path]:
    """For a command that trains a model into --out: check the folder before the long work (refused if it holds
    anything but a model, or a model without --force), hold its lock through the work (a second writer is refused),
    and yield a new folder that replaces --out as a whole when the block ends without error."""
    from oneclass.core.persistence import check_model_folder

    prepare_output_dir(path, "--out", MODEL_FILES, force=force, nested=True)
    check_model_folder(Path(path), "--out")  # a config.json that is not a oneclass model's is the user's
    with written_whole(path, "--out") as new:
        yield new


def epoch_logging() -> tuple:
    """The callbacks a command that trains passes to `fit`: a line per epoch on stdout where no progress bar can be
    drawn (stderr not a terminal: a log, a pipe, CI), none where the bar shows."""
    import sys

    if sys.stderr.isatty() or "ipykernel" in sys.modules:
        return ()
    from oneclass.training import EpochLines

    return (EpochLines(),)
