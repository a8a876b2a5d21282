"""The UCSD Anomaly Dataset layout (Ped1, Ped2), read as clips of grey frames with frame labels.

    UCSDpedN/Train/Train001/001.tif ...
    UCSDpedN/Test/Test001/001.tif ...
    UCSDpedN/Test/Test001_gt/001.bmp ...        pixel masks (Ped1: some clips only)
    UCSDpedN/Test/UCSDpedN.m                     one `TestVideoFile{end+1}.gt_frame = [61:180];` line per clip

The `.m` ranges are 1-based and inclusive; a line may hold several (`[5:90, 140:200]`). Files the archive carries
besides the data (`.DS_Store`, `._*` resource forks, `*.m~` editor backups) are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oneclass.data.images import read_image
from oneclass.errors import DataError

FRAME_SUFFIXES = {".tif", ".tiff", ".png", ".bmp", ".jpg", ".jpeg"}
_GT_LINE = re.compile(r"gt_frame\s*=\s*\[([^\]]*)\]")
_RANGE = re.compile(r"(\d+)\s*:\s*(\d+)|(\d+)")


@dataclass
class Clip:
    """One video clip: grey frames (T, H, W) uint8, frame labels (T,) with 1 = abnormal (None for training
    clips), and pixel masks (T, H, W) bool where the dataset has them."""

    name: str
    frames: np.ndarray
    labels: np.ndarray | None = None
    masks: np.ndarray | None = None


@dataclass
class VideoDataset:
    """Training clips (normal only) and labelled test clips; `root` is the folder read (None when generated)."""

    train: list[Clip]
    test: list[Clip]
    root: Path | None = None


def is_junk(path: Path) -> bool:
    """Files that archives from macOS and editors leave beside the data."""
    return path.name.startswith(".") or path.name.endswith("~")


def frame_files(folder: Path) -> list[Path]:
    """The frame images of a folder, in name order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not is_junk(p) and p.suffix.lower() in FRAME_SUFFIXES)


def read_frames(folder: Path) -> np.ndarray:
    """All frames of a folder as grey (T, H, W) uint8."""
    files = frame_files(folder)
    if not files:
        raise DataError(f"{folder}: no frames (looked for {', '.join(sorted(FRAME_SUFFIXES))})")
    frames = [read_image(f, channels=1) for f in files]  # the image reader's bounds and bit depths apply
    if len({fr.shape for fr in frames}) > 1:
        raise DataError(f"{folder}: frames differ in size")
    return np.stack(frames)


def parse_gt_ranges(text: str, source: str = "the .m file") -> list[list[tuple[int, int]]]:
    """The `gt_frame` ranges of a UCSD `.m` file, one list of (first, last) 1-based inclusive pairs per clip."""
    clips = []
    for match in _GT_LINE.finditer(text):
        ranges = []
        for m in _RANGE.finditer(match.group(1)):
            first, last = (int(m.group(1)), int(m.group(2))) if m.group(1) else (int(m.group(3)),) * 2
            if not 1 <= first <= last:
                raise DataError(f"{source}: bad frame range {m.group(0)!r} (1-based, first ≤ last)")
            ranges.append((first, last))
        clips.append(ranges)
    if not clips:
        raise DataError(f"{source}: no `gt_frame = [...]` lines")
    return clips


def labels_from_ranges(ranges: list[tuple[int, int]], n_frames: int) -> np.ndarray:
    """Frame labels (1 abnormal) of a clip of `n` frames from its annotated 1-based ranges."""
    labels = np.zeros(n_frames, np.int64)
    for first, last in ranges:
        labels[first - 1:last] = 1
    return labels


def _clip_dirs(folder: Path, prefix: str) -> list[Path]:
    pattern = re.compile(rf"{prefix}\d+")
    return sorted(p for p in folder.iterdir() if p.is_dir() and pattern.fullmatch(p.name))


def ucsd_roots(folder: Path) -> list[Path]:
    """`folder` if it holds Train/ and Test/, else those of its sub- and sub-subfolders that do."""
    if (folder / "Train").is_dir() and (folder / "Test").is_dir():
        return [folder]
    return [p for p in sorted(folder.glob("*")) + sorted(folder.glob("*/*"))
            if p.is_dir() and (p / "Train").is_dir() and (p / "Test").is_dir()]


def find_ucsd_root(folder: Path) -> Path:
    """`folder` itself if it holds Train/ and Test/, else its one subfolder that does (e.g. UCSDped2/)."""
    inner = ucsd_roots(folder)
    if len(inner) != 1:
        raise DataError(f"{folder}: expected Train/ and Test/ folders (the UCSD layout) in it or in one subfolder"
                        + (f"; found several: {', '.join(str(p) for p in inner)}" if inner else ""))
    return inner[0]


def read_ucsd(folder: str | Path, labels: str = "m") -> VideoDataset:
    """Read a UCSD-layout tree. Frame labels come from the `.m` file (`labels="m"`, the published protocol) or
    from the pixel masks, a frame being abnormal when any mask pixel is non-zero (`labels="masks"`)."""
    if labels not in ("m", "masks"):
        raise DataError(f"labels={labels!r}: expected 'm' (the .m file) or 'masks'")
    root = find_ucsd_root(Path(folder))
    train = [Clip(d.name, read_frames(d)) for d in _clip_dirs(root / "Train", "Train")]
    test_dirs = _clip_dirs(root / "Test", "Test")
    if not train or not test_dirs:
        raise DataError(f"{root}: no Train/TrainNNN or Test/TestNNN clip folders")
    ranges: list[list[tuple[int, int]]] | None = None
    if labels == "m":
        m_files = [p for p in (root / "Test").glob("*.m") if not is_junk(p)]
        if len(m_files) != 1:
            raise DataError(f"{root / 'Test'}: expected one .m file with the frame labels, found {len(m_files)}; "
                            "or read the labels from the masks (labels='masks')")
        ranges = parse_gt_ranges(m_files[0].read_text(errors="replace"), str(m_files[0]))
        if len(ranges) != len(test_dirs):
            raise DataError(f"{m_files[0]}: {len(ranges)} gt_frame lines for {len(test_dirs)} test clips")
    test = []
    for i, d in enumerate(test_dirs):
        frames = read_frames(d)
        gt = d.with_name(d.name + "_gt")
        masks = read_frames(gt) > 0 if gt.is_dir() else None
        if masks is not None and masks.shape != frames.shape:
            raise DataError(f"{gt}: {len(masks)} masks of {masks.shape[1:]} for {len(frames)} frames of {frames.shape[1:]}")
        if ranges is not None:
            if ranges[i] and ranges[i][-1][1] > len(frames):
                raise DataError(f"clip {d.name}: the .m file marks frame {ranges[i][-1][1]}, the clip has {len(frames)}")
            y = labels_from_ranges(ranges[i], len(frames))
        elif masks is None:
            raise DataError(f"{d.name} has no {gt.name}/ masks to read labels from; use the .m file (labels='m')")
        else:
            y = masks.reshape(len(masks), -1).any(1).astype(np.int64)
        test.append(Clip(d.name, frames, y, masks))
    return VideoDataset(train, test, root)
