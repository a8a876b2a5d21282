"""Where a result line came from: the git commit of the code that made it."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path


@functools.lru_cache(maxsize=4)
def git_commit(where: Path = Path(__file__).parents[1]) -> str | None:
    """The commit of the git checkout `where` lies in (by default the package's own), if it is in one; "-dirty"
    when tracked files outside the checkout's top-level `results/` have changes, so that a ledger being appended
    to (by this run or another) does not mark its own lines dirty."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=5)

    try:
        head, changes = git("rev-parse", "HEAD"), git("status", "--porcelain", "-uno", "--", ":(top,exclude)results")
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0 or changes.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if changes.stdout.strip() else "")
