"""`bench`, `report` and `data`: benchmark grids, their reports, and the datasets."""

from __future__ import annotations

import argparse
import os

from oneclass.cli.common import PROTOCOL_HELP, REPORT_FILES, add_training_flags, check_normal_class
from oneclass.data.catalog import DATASETS, dataset_info, load_dataset, search_roots, verify_dataset
from oneclass.data.protocols import PROTOCOLS
from oneclass.errors import OneClassError
from oneclass.files import prepare_output_dir
from oneclass.params import integer
from oneclass.settings import overrides_from


def cmd_bench(args: argparse.Namespace) -> None:
    """Run a grid of trainings (methods × normal classes × seeds); one JSON line per finished cell in --out.

    A rerun with the same --out skips the cells already there, so an interrupted grid resumes where it stopped.
    """
    from oneclass.bench import ResultsFile, make_cells, parse_classes, resume_plan, run_grid
    from oneclass.runtime import progress

    methods = args.methods.split(",")
    info = dataset_info(args.dataset)
    classes = list(range(len(info.classes))) if args.classes == "all" else parse_classes(args.classes)
    if not classes:
        raise OneClassError(f"--classes: {args.dataset} has no fixed classes; give them, e.g. --classes 1,3,5 "
                            "(the caltech protocol's numbers of inlier categories)")
    for c in classes:
        check_normal_class(args.dataset, c, "--classes")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise OneClassError(f"--seeds {args.seeds!r}: expected comma-separated integers, e.g. 0,1,2") from None
    for seed in seeds:
        integer(0).check("--seeds", seed)
    overrides = overrides_from(args.set, args.epochs, args.device, args.precision)
    integer(1).check("--workers", args.workers)
    cores = os.cpu_count() or 1
    if args.workers > cores:
        print(f"--workers {args.workers}: this machine has {cores} cores; running {cores} workers", flush=True)
        args.workers = cores
    cells = make_cells(methods, args.dataset, args.protocol, classes, seeds, args.preset, overrides, args.track_epochs)
    out = ResultsFile(args.out)
    set_aside = out.check()
    if set_aside:
        print(f"{set_aside} line(s) of {out.path} named a cell but lacked or mistyped its metrics: moved to "
              f"{out.rejected_path}; those cells run again", flush=True)
    load_dataset(args.dataset, args.data_root, download=not args.no_download)  # fetch once, before any worker
    done, changed = resume_plan(cells, out.path)
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
    """List known datasets and where they are looked for, verify their files, or generate the defects data set
    (`make-defects DIR`: colour textures and an object at 128×128 with scratches, spots, missing parts and colour
    changes, and their masks, in MVTec AD's layout)."""
    if args.action == "make-defects":
        return make_defects_folder(args)
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


def make_defects_folder(args: argparse.Namespace) -> None:
    """`data make-defects DIR`: write the generated defects data set into the new folder DIR."""
    from oneclass.data.defects import CATEGORIES, make_defects

    if len(args.names) != 1:
        raise OneClassError("data make-defects: give one folder to write, e.g. oneclass data make-defects defects/")
    categories = tuple(args.categories.split(",")) if args.categories else CATEGORIES
    root = make_defects(args.names[0], categories=categories, n_train=args.n_train, seed=args.seed)
    print(f"wrote {', '.join(categories)} under {root}: {args.n_train} training images each, 40 good and 4 × 12 "
          f"defective test images with masks; train on one with: oneclass train --method knn_geom --images "
          f"{root / categories[0]} --out model")


def add_parsers(sub: argparse._SubParsersAction, methods: list[str]) -> None:
    """The parsers of `bench`, `report` and `data`."""
    p = sub.add_parser("bench", help="run a benchmark grid, resumable, one JSON line per cell",
                       description=cmd_bench.__doc__)
    p.add_argument("--methods", required=True, help="comma-separated methods, e.g. ae,dsvdd")
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--protocol", default="one-vs-rest", choices=list(PROTOCOLS), help=PROTOCOL_HELP)
    p.add_argument("--classes", default="all", help="normal classes: all, 0-9, 0,2,5 (default: all); they run in numeric order")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default: 0)")
    add_training_flags(p, many=True, seed=False, preset="paper")
    p.add_argument("--track-epochs", action="store_true",
                   help="also record the test AUROC after every epoch of the phase that trains the scored model, ALOCC's "
                        "second phase after its adversarial epochs (for studies of training; not for selection)")
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

    p = sub.add_parser("data", help="list or verify datasets; generate the defects data set",
                       description=cmd_data.__doc__)
    p.add_argument("action", choices=["list", "verify", "make-defects"])
    p.add_argument("names", nargs="*", help="verify: datasets (default: all); make-defects: the new folder")
    p.add_argument("--data-root", default=None)
    p.add_argument("--categories", default=None, help="make-defects: some of weave,tile,wood,pill (default: all)")
    p.add_argument("--n-train", type=int, default=200, help="make-defects: training images per category (default: 200)")
    p.add_argument("--seed", type=int, default=0, help="make-defects: the seed the images are drawn from (default: 0)")
    p.set_defaults(func=cmd_data)
