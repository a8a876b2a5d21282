"""`oneclass` command line: argument parsing and one call into the library per command, in three modules
(`train`, `score`, `serve`, `bench`). User errors print one line and exit with status 2. Heavy modules (torch, the methods)
are imported by the commands that use them, so `oneclass --help` stays fast."""

from __future__ import annotations

import argparse
import sys
import warnings

import oneclass
from oneclass.cli import bench, score, serve, train
from oneclass.cli.train import DEMO_METHODS
from oneclass.errors import OneClassError

__all__ = ["DEMO_METHODS", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = argparse.ArgumentParser(prog="oneclass", description="One-class novelty and anomaly detection on images and video.")
    parser.add_argument("--version", action="version", version=f"oneclass {oneclass.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for commands in (train, score, serve, bench):
        commands.add_parsers(sub, oneclass.available())
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv`; 0 on success, 2 with one line on stderr for a user error, 130 when interrupted."""
    for stream in (sys.stdout, sys.stderr):  # a path or message that the terminal's encoding cannot show
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    warnings.formatwarning = lambda message, *_args, **_kwargs: f"oneclass: warning: {message}\n"
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
