"""Writing outputs safely: a destination is checked before any long work starts, and files are written whole or
not at all, with the user's normal permissions (0666 less the umask). A folder that must stay consistent (a model:
config, weights, metrics) is built beside its destination and switched in with one rename (`written_whole`), under
a lock a second writer sees."""

from __future__ import annotations

import ctypes
import errno
import fnmatch
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from oneclass.errors import OneClassError

#: renameat2's flag that swaps two paths in one step (Linux), and its "current directory" file descriptor
RENAME_EXCHANGE, AT_FDCWD = 2, -100
#: what a model folder may hold: a detector's config.json and weights, `train`'s metrics, a video model's settings and
#: detector/ (and the temporary files of versions that wrote in place): a folder holding anything else is not replaced
MODEL_FILES = ("config.json", "weights.safetensors", "metrics.json", "video.json", "detector", ".*.tmp")


def write_atomic(path: str | Path, data: bytes | str, shown_as: Path | None = None) -> None:
    """Write `data` to a temporary file beside `path` (its folder made if needed), then rename it over `path`: a
    crash leaves the old file or the new one, never a part of either. An error (a full disk) names `shown_as`, where
    the user will look for the file, if given, else `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OneClassError(f"{shown_as or path}: cannot write it ({exc.strerror or exc}); no part of it was left "
                            "behind") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def safe_name(name: str, limit: int = 100) -> str:
    """`name` as a plain file name: every character but letters, digits, `.`, `_` and `-` becomes `-`, no leading
    dot (so never `..` or hidden), at most `limit` characters; "file" if nothing is left.

    >>> safe_name("../../etc/passwd-roc")
    'etc-passwd-roc'
    """
    plain = re.sub(r"[^A-Za-z0-9._-]+", "-", name).lstrip(".-")[:limit]
    return plain or "file"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable_dir(folder: Path, option: str) -> None:
    """Make sure `folder` can be created (if it is not there) and written in, without creating anything: the
    nearest folder that exists must be a writable folder."""
    existing = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise OneClassError(f"{option} {folder}: cannot write there ({existing} is a file, not a folder)")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise OneClassError(f"{option} {folder}: cannot write there ({exc.strerror or exc})") from None


def _is_ours(path: Path, ours: tuple[str, ...], nested: bool) -> bool:
    def matches(p: Path) -> bool:
        return any(fnmatch.fnmatch(p.name, pattern) for pattern in ours)

    if nested and path.is_dir() and not path.is_symlink():
        return all(matches(p) for p in path.rglob("*") if not p.is_dir())
    return matches(path)


def prepare_output_dir(path: str | Path, option: str, ours: tuple[str, ...], force: bool = False,
                       replace_ours: bool = False, nested: bool = False, marker: str | None = None) -> Path:
    """Check, before long work starts, that folder `path` may receive our output (it is created when written).

    `ours` names (or glob patterns) the files this kind of output consists of. A folder holding anything else is
    refused, so no file of the user's is ever overwritten. A folder holding earlier output of the same kind is
    replaced when `replace_ours` (reports: regenerated on each run) or `force` (models), refused otherwise. With
    `nested`, our output may lie in subfolders too (heatmaps named by the images' relative paths): a subfolder all
    of whose files match `ours` is ours. With `marker`, a folder is ours only if it holds that file (which the
    writer puts there): names as common as `*.png` do not tell our files from the user's.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OneClassError(f"{option} {out}: is a file; give a folder (new or empty)")
    if out.is_dir():
        try:
            present = sorted(p.name for p in out.iterdir())
        except OSError as exc:
            raise OneClassError(f"{option} {out}: cannot read the folder ({exc.strerror or exc})") from None
        foreign = [name for name in present if not _is_ours(out / name, ours, nested)]
        if marker is not None and not (out / marker).is_file():
            foreign = present
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise OneClassError(f"{option} {out}: the folder holds other files ({shown}); choose a new or empty folder")
        if present and not (replace_ours or force):
            raise OneClassError(f"{option} {out}: already holds earlier output ({', '.join(present[:3])}); "
                                "pass --force to replace it, or choose a new folder")
    check_writable_dir(out, option)
    return out


@contextmanager
def written_whole(path: str | Path, option: str) -> Iterator[Path]:
    """Build a folder that replaces `path` as a whole: yields a new folder, beside `path` in a lock folder
    (`.<name>.writing/`, with the writer's process id) that a second writer sees and refuses; on success the new
    folder takes `path`'s place in one rename (the old one is removed after), on an error it is removed. A crash
    leaves `path` all old or all new, and the lock of a writer that is gone is cleared by the next one.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> with written_whole(root / "model", "--out") as new:
    ...     _ = (new / "config.json").write_text("{}")
    >>> sorted(p.name for p in (root / "model").iterdir())
    ['config.json']
    """
    target = Path(path)
    lock = target.parent / f".{target.name}.writing"
    _take_lock(lock, target, option)
    try:
        new = lock / "new"
        new.mkdir()
        yield new
        _switch(new, target, lock / "old")
    finally:
        shutil.rmtree(lock, ignore_errors=True)


def _take_lock(lock: Path, target: Path, option: str) -> None:
    """Create the lock folder, or refuse while its owner runs; a dead owner's lock is cleared (after putting back
    a folder that its fallback switch had moved aside)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            lock.mkdir()
        except FileExistsError:
            owner = _owner(lock)
            if not owner and _age(lock) < 5:  # being created this instant: its owner is writing owner.json
                time.sleep(0.2)
                continue
            if _running(owner):
                since = time.strftime("%H:%M:%S", time.localtime(owner.get("since", 0)))
                raise OneClassError(f"{option} {target}: another oneclass (process {owner['pid']}, since {since}) is "
                                    "writing this folder; wait for it to finish or choose another folder") from None
            put_back(target)
            shutil.rmtree(lock, ignore_errors=True)
            continue
        (lock / "owner.json").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                                     "since": time.time()}))
        return
    raise OneClassError(f"{option} {target}: cannot take the lock {lock}; remove it if no oneclass is running")


def put_back(target: str | Path) -> None:
    """Where a writer died between the two renames of `_switch`'s fallback, `target` is missing and the old folder
    lies aside in its lock: move it back (a reader, `load`, does this too, so it never finds the folder gone)."""
    target = Path(target)
    lock = target.parent / f".{target.name}.writing"
    if (lock / "old").is_dir() and not target.exists() and not _running(_owner(lock)):
        try:
            os.rename(lock / "old", target)
        except OSError:  # another reader put it back first
            pass


def _owner(lock: Path) -> dict:
    """What a lock folder says of its writer (pid, host, since); empty if it says nothing readable."""
    try:
        owner = json.loads((lock / "owner.json").read_text())
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _age(path: Path) -> float:
    """Seconds since `path` last changed (0 if it is gone)."""
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _running(owner: dict) -> bool:
    """Whether a lock's writer still runs: its process on this machine is alive (a lock written on another machine
    cannot be checked, and counts as a dead writer's)."""
    return owner.get("host") == socket.gethostname() and _alive(owner.get("pid"))


def _switch(new: Path, target: Path, aside: Path) -> None:
    """Put folder `new` at `target`: one rename where `target` is absent or empty, else one exchange (Linux's
    renameat2), else two renames (`target` to `aside`, `new` to `target`) that the next writer can undo."""
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        target.rmdir()
    if not target.exists():
        os.rename(new, target)
    elif not _exchange(new, target):
        os.rename(target, aside)
        try:
            os.rename(new, target)
        except BaseException:
            os.rename(aside, target)
            raise


def _exchange(a: Path, b: Path) -> bool:
    """Swap paths `a` and `b` in one step; False where the system cannot (no renameat2, or not on this file
    system)."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _alive(pid: object) -> bool:
    """Whether process `pid` runs on this machine."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True
