"""Video as patches: cut frames into square patches, keep the moving ones for training, and turn patch scores
back into frame scores (max over a frame's patches) and per-pixel heatmaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oneclass.data.ucsd import read_frames
from oneclass.errors import DataError

#: the most bytes of decoded grey frames read from one video file (they are stacked into one array after)
MAX_VIDEO_BYTES = 2**30


def read_video(path: str | Path) -> np.ndarray:
    """Grey frames (T, H, W) uint8 of a video file (decoded by PyAV / FFmpeg) or of a folder of frame images."""
    path = Path(path)
    if path.is_dir():
        return read_frames(path)
    if not path.is_file():
        raise DataError(f"{path}: no such video file or frame folder")
    try:
        import av
    except ImportError:
        raise DataError(f"{path}: reading video files needs PyAV: pip install -e '.[video]' in the clone "
                        "(or pass a folder of frames)") from None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            _check_video_size(path, stream.frames or 0, stream.codec_context.width, stream.codec_context.height)
            frames, pixels = [], 0
            for f in container.decode(video=0):  # counted as decoded too: a header may understate the frames
                pixels += f.width * f.height
                _check_video_size(path, len(frames) + 1, f.width, f.height, pixels)
                frames.append(f.to_ndarray(format="gray"))
    except (av.FFmpegError, IndexError) as exc:
        raise DataError(f"{path}: not a readable video ({exc})") from None
    if not frames:
        raise DataError(f"{path}: the video has no frames")
    return np.stack(frames)


def _check_video_size(path: Path, frames: int, width: int, height: int, pixels: int | None = None) -> None:
    """Refuse a video whose grey frames would take more than `MAX_VIDEO_BYTES` (before decoding where its header
    says how many frames it has, and as it decodes)."""
    total = frames * width * height if pixels is None else pixels
    if total > MAX_VIDEO_BYTES:
        raise DataError(f"{path}: {frames:,} frames of {width}×{height} take {total / 2**30:.1f} GB or more decoded, over the "
                        f"{MAX_VIDEO_BYTES / 2**30:g} GB oneclass reads; cut the video or lower its resolution first")


def patch_origins(length: int, size: int, stride: int) -> np.ndarray:
    """Start positions of patches of `size` every `stride` pixels along a side of `length`, plus one flush with
    the far border when the stride leaves it uncovered, so every pixel lies in some patch."""
    if size > length:
        raise DataError(f"patch size {size} exceeds the frame side {length}")
    if stride < 1:
        raise DataError(f"patch stride must be at least 1, got {stride}")
    starts = np.arange(0, length - size + 1, stride)
    return starts if starts[-1] == length - size else np.r_[starts, length - size]


def patch_grid(shape: tuple[int, int], size: int, stride: int) -> np.ndarray:
    """(P, 2) top-left corners (row, column) of a frame's patches, row-major."""
    rows, cols = patch_origins(shape[0], size, stride), patch_origins(shape[1], size, stride)
    return np.stack(np.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)


def extract_patches(frames: np.ndarray, size: int, stride: int) -> np.ndarray:
    """(T, H, W) frames → (T, P, size, size) patches at `patch_grid` (a view-based gather, no Python loop over
    frames)."""
    grid = patch_grid(frames.shape[1:], size, stride)
    windows = np.lib.stride_tricks.sliding_window_view(frames, (size, size), axis=(1, 2))
    return windows[:, grid[:, 0], grid[:, 1]]


def patch_motion(frames: np.ndarray, size: int, stride: int, delta: float = 15.0) -> np.ndarray:
    """(T, P) fraction of each patch's pixels that changed by more than `delta` grey levels from the previous frame
    (the first frame is compared with the second)."""
    f = frames.astype(np.int16)
    diff = np.abs(np.diff(f, axis=0)) > delta
    moved = np.concatenate([diff[:1], diff]).astype(np.float32)
    return extract_patches(moved, size, stride).mean(axis=(2, 3))


def frame_scores(patch_scores: np.ndarray, smooth: int = 1) -> np.ndarray:
    """(T, P) patch scores of one clip → (T,) frame scores: the max over the frame's patches, then (when
    `smooth` > 1) a centred moving average over `smooth` frames, shrinking at the clip's ends."""
    scores = patch_scores.max(axis=1)
    if smooth <= 1:
        return scores
    t = np.arange(len(scores))  # frame t averages frames t - smooth//2 .. t + (smooth-1)//2 that exist
    lo = np.clip(t - smooth // 2, 0, len(scores))
    hi = np.clip(t + (smooth - 1) // 2 + 1, 0, len(scores))
    sums = np.r_[0.0, np.cumsum(scores, dtype=np.float64)]
    return (sums[hi] - sums[lo]) / (hi - lo)


def heatmaps(patch_scores: np.ndarray, shape: tuple[int, int], size: int, stride: int) -> np.ndarray:
    """(T, P) patch scores → (T, H, W) maps: each pixel takes the highest score of the patches covering it."""
    grid = patch_grid(shape, size, stride)
    out = np.full((len(patch_scores), *shape), -np.inf, np.float32)
    for p, (r, c) in enumerate(grid):  # one slice per patch position, all frames at once
        view = out[:, r:r + size, c:c + size]
        np.maximum(view, patch_scores[:, p, None, None], out=view)
    return out


def training_patches(clips: list[np.ndarray], size: int, stride: int, keep: str = "motion", motion_delta: float = 15.0,
                     min_motion: float = 0.01, max_patches: int | None = None,
                     rng: np.random.Generator | None = None) -> np.ndarray:
    """Patches (N, size, size) of normal clips to train on: all of them (`keep="all"`) or those in which at least
    `min_motion` of the pixels moved (`keep="motion"`, see `patch_motion`); at most `max_patches`, drawn at random."""
    if keep not in ("motion", "all"):
        raise DataError(f"train_patches={keep!r}: expected 'motion' or 'all'")
    kept = []
    for frames in clips:
        patches = extract_patches(frames, size, stride)
        if keep == "motion":
            patches = patches[patch_motion(frames, size, stride, motion_delta) >= min_motion]
        kept.append(patches.reshape(-1, size, size))
    x = np.concatenate(kept)
    if len(x) == 0:
        raise DataError(f"no training patch has motion above min_motion={min_motion}; lower it or keep all patches")
    if max_patches is not None and len(x) > max_patches:
        x = x[np.sort((rng or np.random.default_rng(0)).choice(len(x), max_patches, replace=False))]
    return x
