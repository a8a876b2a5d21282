"""Writing outputs safely: a destination is checked before any long work starts, and files are written whole or
not at all, with the user's normal permissions (0666 less the umask)."""

from __future__ import annotations

import fnmatch
import os
import tempfile
from pathlib import Path

from oneclass.errors import OneClassError


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write `data` to a temporary file beside `path` (its folder made if needed), then rename it over `path`: a
    crash leaves the old file or the new one, never a part of either."""
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
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
                       replace_ours: bool = False, nested: bool = False) -> Path:
    """Check, before long work starts, that folder `path` may receive our output (it is created when written).

    `ours` names (or glob patterns) the files this kind of output consists of. A folder holding anything else is
    refused, so no file of the user's is ever overwritten. A folder holding earlier output of the same kind is
    replaced when `replace_ours` (reports: regenerated on each run) or `force` (models), refused otherwise. With
    `nested`, our output may lie in subfolders too (heatmaps named by the images' relative paths): a subfolder all
    of whose files match `ours` is ours.
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
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise OneClassError(f"{option} {out}: the folder holds other files ({shown}); choose a new or empty folder")
        if present and not (replace_ours or force):
            raise OneClassError(f"{option} {out}: already holds earlier output ({', '.join(present[:3])}); "
                                "pass --force to replace it, or choose a new folder")
    check_writable_dir(out, option)
    return out
