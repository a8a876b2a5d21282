"""The datasets oneclass knows: where their files are looked for, where they come from, their checksums.

A dataset named N is looked for in `<root>/N/` for each root in order: the explicit `--data-root`, then
`$ONECLASS_DATA`, then the cache directory (`$XDG_CACHE_HOME/oneclass` or `~/.cache/oneclass`), then known
system copies (Debian's `dataset-fashion-mnist` installs `/usr/share/datasets/fashion-mnist/`). A missing
dataset is downloaded into the first writable root with its checksum verified; without a network the error
says which files to place where.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from oneclass.data.caltech import CLUTTER, caltech_index
from oneclass.data.cifar import TEST_BATCH, TRAIN_BATCHES, read_cifar10, read_cifar_batch
from oneclass.data.idx import parse_idx, read_bytes, read_idx
from oneclass.data.ucsd import VideoDataset, read_ucsd, ucsd_roots
from oneclass.errors import DataError

IDX_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


@dataclass(frozen=True)
class DatasetInfo:
    """A known dataset: its name, description, classes, files and where they come from."""
    name: str
    description: str
    #: file name -> md5 of the file as released (the gzip or tar archive)
    archive_md5: dict[str, str] = field(default_factory=dict)
    #: file name -> md5 of its decompressed content (copies that were recompressed still verify)
    content_md5: dict[str, str] = field(default_factory=dict)
    mirrors: tuple[str, ...] = ()
    system_dirs: tuple[str, ...] = ()
    embedded: bool = False
    classes: tuple[str, ...] = ()
    #: video in the UCSD layout (read by `ucsd.read_ucsd`, used with the ucsd-patches protocol)
    video: bool = False
    #: made on this machine when missing (`synthetic.moving_scenes`) rather than downloaded
    generated: bool = False


DATASETS: dict[str, DatasetInfo] = {d.name: d for d in [
    DatasetInfo(
        "fashion-mnist", "Fashion-MNIST: 70,000 28×28 grey images of 10 clothing classes (IDX files)",
        archive_md5={"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                     "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                     "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                     "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
        content_md5={"train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                     "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
                     "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
                     "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965"},
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
    DatasetInfo(
        "mnist", "MNIST: 70,000 28×28 grey handwritten digits (IDX files)",
        archive_md5={"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                     "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                     "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                     "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
        content_md5={"t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
                     "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637"},
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        classes=tuple(str(d) for d in range(10)),
    ),
    DatasetInfo(
        "cifar10", "CIFAR-10, python version: 60,000 32×32 colour images of 10 classes",
        archive_md5={"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    ),
    DatasetInfo(
        "caltech256", "Caltech-256: 30,607 colour images of 256 object categories and 257.clutter (JPEG folders)",
        archive_md5={"256_ObjectCategories.tar": "67b4f42ca05d46448c6bb8ecd2220f6d"},
        mirrors=("https://data.caltech.edu/records/nyy15-4j048/files/",),
    ),
    DatasetInfo(
        "ucsd-ped1", "UCSD Anomaly Dataset Ped1: 34 training and 36 test clips of 158×238 grey frames (UCSD layout)",
        classes=("pedestrians",), video=True,
    ),
    DatasetInfo(
        "ucsd-ped2", "UCSD Anomaly Dataset Ped2: 16 training and 12 test clips of 240×360 grey frames (UCSD layout)",
        classes=("pedestrians",), video=True,
    ),
    DatasetInfo(
        "moving-scenes", "Generated UCSD-like scenes: walking blobs on a static background; carts and cyclists as "
        "anomalies (8 training, 6 test clips of 80 frames, 120×180)",
        classes=("pedestrians",), video=True, generated=True,
    ),
    DatasetInfo(
        "fashion-mnist-mini", "Embedded stratified subset of real Fashion-MNIST (250 train + 100 test per class)",
        embedded=True,
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
]}


def dataset_info(name: str) -> DatasetInfo:
    """The `DatasetInfo` of dataset `name`; a one-line error naming the known ones otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def cache_dir() -> Path:
    """The data cache: $XDG_CACHE_HOME/oneclass (else ~/.cache/oneclass)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "oneclass"


def search_roots(data_root: str | Path | None = None) -> list[Path]:
    """Roots to look in, in order: `data_root`, `$ONECLASS_DATA`, the cache directory."""
    if data_root is not None:
        root = Path(data_root)
        if not root.is_dir():
            raise DataError(f"--data-root {root}: no such directory")
        return [root]
    roots = [Path(os.environ["ONECLASS_DATA"])] if os.environ.get("ONECLASS_DATA") else []
    return roots + [cache_dir()]


def _find_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def dataset_dir(name: str, data_root: str | Path | None = None, download: bool = True) -> Path:
    """The folder holding dataset `name`, downloading it if it is nowhere to be found."""
    info = dataset_info(name)
    if info.embedded:
        return Path(str(resources.files("oneclass") / "assets" / name))
    candidates = [r / name for r in search_roots(data_root)]
    if data_root is None:
        candidates += [Path(d) for d in info.system_dirs]
    for folder in candidates:
        if _is_complete(info, folder):
            return folder
    target = candidates[0]
    if info.generated and download:
        return _generate(info, target)
    if not download:
        raise DataError(_missing_message(info, target))
    return _download(info, target)


def _generate(info: DatasetInfo, target: Path) -> Path:
    """Render the generated dataset into `target` (seed 0, so every machine makes the same files)."""
    from oneclass.data.synthetic import moving_scenes, write_ucsd_tree

    with tempfile.TemporaryDirectory(dir=_writable_parent(target)) as tmp:
        write_ucsd_tree(moving_scenes(seed=0), tmp, "UCSDsynth")
        target.mkdir(parents=True, exist_ok=True)
        os.replace(Path(tmp) / "UCSDsynth", target / "UCSDsynth")
    return target


def _writable_parent(target: Path) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{target.parent}: cannot write the dataset there ({exc}); pass --data-root DIR") from None
    return target.parent


def _expected_files(info: DatasetInfo) -> list[str]:
    if info.name == "caltech256":
        return [f"256_ObjectCategories/{CLUTTER}"]
    if info.name == "cifar10":
        return [f"cifar-10-batches-py/{b}" for b in (*TRAIN_BATCHES, TEST_BATCH)]
    return list(IDX_FILES.values())


def _is_complete(info: DatasetInfo, folder: Path) -> bool:
    if info.video:
        return folder.is_dir() and bool(ucsd_roots(folder))
    if info.name == "caltech256":
        return (folder / _expected_files(info)[0]).is_dir()
    if info.name == "cifar10":
        return all((folder / f).is_file() for f in _expected_files(info))
    return all(_find_file(folder, stem) for stem in _expected_files(info))


def _missing_message(info: DatasetInfo, target: Path) -> str:
    files = {"cifar10": "cifar-10-python.tar.gz (extracted)",
             "ucsd-ped1": "UCSD_Anomaly_Dataset.tar.gz (extracted: UCSD_Anomaly_Dataset.v1p2/UCSDped1/Train/...)",
             "ucsd-ped2": "UCSD_Anomaly_Dataset.tar.gz (extracted: UCSD_Anomaly_Dataset.v1p2/UCSDped2/Train/...)",
             "caltech256": "256_ObjectCategories.tar (extracted: 256_ObjectCategories/001.ak47/...)"}.get(
        info.name, ", ".join(info.archive_md5))
    if info.generated:
        return f"{info.name}: not generated yet; it is made in {target}/ on first use (e.g. oneclass demo --video)"
    return (f"{info.name}: not found and could not be downloaded; place {files} in {target}/ "
            f"(or pass --data-root DIR holding {info.name}/, or set ONECLASS_DATA)")


def _download(info: DatasetInfo, target: Path) -> Path:
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        raise DataError(_missing_message(info, target)) from None
    for file, md5 in info.archive_md5.items():
        if (target / file).is_file() and file_md5(target / file) == md5:
            continue
        errors = []
        for mirror in info.mirrors:
            try:
                _fetch(mirror + file, target / file, md5)
                break
            except (OSError, ValueError) as exc:
                errors.append(f"{mirror}: {exc}")
        else:
            raise DataError(_missing_message(info, target) + f" [download failed: {'; '.join(errors)}]")
    for archive in info.archive_md5:
        if archive.endswith((".tar", ".tar.gz")):
            with tarfile.open(target / archive) as tar:
                tar.extractall(target, filter="data")
    return target


def _fetch(url: str, dest: Path, md5: str) -> None:
    """Download `url` to `dest` through a temporary file, keeping it only if its md5 matches."""
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=20) as response:
                shutil.copyfileobj(response, tmp)
            tmp.close()
            got = file_md5(Path(tmp.name))
            if got != md5:
                raise ValueError(f"checksum mismatch (md5 {got}, expected {md5})")
            os.replace(tmp.name, dest)
        finally:
            if os.path.exists(tmp.name):
                os.unlink(tmp.name)


def file_md5(path: Path) -> str:
    """The md5 of a file's bytes."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_dataset(name: str, data_root: str | Path | None = None,
                 download: bool = True) -> dict[str, np.ndarray] | VideoDataset:
    """Dataset `name` as uint8 images and int64 labels: keys x_train, y_train, x_test, y_test (Caltech-256,
    whose images differ in size: `paths`, `labels` and `categories`, read by its protocol); video datasets as
    clips (`ucsd.VideoDataset`)."""
    folder = dataset_dir(name, data_root, download)
    if dataset_info(name).video:
        return read_ucsd(folder)
    if name == "cifar10":
        return read_cifar10(folder / "cifar-10-batches-py")
    if name == "caltech256":
        return caltech_index(folder)
    arrays = {}
    for key, stem in IDX_FILES.items():
        path = _find_file(folder, stem)
        if path is None:
            raise DataError(f"{folder}: missing {stem}.gz")
        arrays[key] = read_idx(path)
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"{folder}: {split} images {x.shape} and labels {y.shape} do not match")
    arrays["y_train"] = arrays["y_train"].astype(np.int64)
    arrays["y_test"] = arrays["y_test"].astype(np.int64)
    return arrays


@dataclass
class FileCheck:
    """What `verify_dataset` found for one file: its path, status and a detail."""
    path: Path
    status: str  # "ok", "unverified", "mismatch", "missing", "corrupt"
    detail: str


def verify_dataset(name: str, data_root: str | Path | None = None) -> list[FileCheck]:
    """Check each file of dataset `name` (without downloading): present, readable, official checksum."""
    info = dataset_info(name)
    try:
        folder = dataset_dir(name, data_root, download=False)
    except DataError:
        roots = search_roots(data_root)
        return [FileCheck(roots[0] / name, "missing", _missing_message(info, roots[0] / name))]
    if info.embedded:
        arrays = load_dataset(name)
        return [FileCheck(folder, "ok", f"embedded: {len(arrays['x_train'])} train, {len(arrays['x_test'])} test images")]
    if info.video:
        try:
            video = read_ucsd(folder)
        except DataError as exc:
            return [FileCheck(folder, "corrupt", str(exc))]
        frames = sum(len(c.frames) for c in video.train + video.test)
        return [FileCheck(video.root, "unverified", f"{len(video.train)} training and {len(video.test)} test clips, "
                                                    f"{frames} frames (no official checksum of the frames)")]
    if info.name == "caltech256":
        index = caltech_index(folder)
        return [FileCheck(folder / "256_ObjectCategories", "unverified",
                          f"{len(index['categories'])} categories, {len(index['paths'])} images "
                          "(the checksum is of the tar archive)")]
    if info.name == "cifar10":
        checks = []
        for f in _expected_files(info):
            try:
                n = len(read_cifar_batch(folder / f)[1])
                checks.append(FileCheck(folder / f, "unverified", f"{n} images readable (checksum is of the tar archive)"))
            except DataError as exc:
                checks.append(FileCheck(folder / f, "corrupt", str(exc)))
        return checks
    checks = []
    for stem in IDX_FILES.values():
        path = _find_file(folder, stem)
        if path is None:
            checks.append(FileCheck(folder / f"{stem}.gz", "missing", "not found"))
            continue
        try:
            content = read_bytes(path)
            n = len(parse_idx(content, str(path)))
        except DataError as exc:
            checks.append(FileCheck(path, "corrupt", str(exc)))
            continue
        key = f"{stem}.gz"
        if file_md5(path) == info.archive_md5.get(key):
            checks.append(FileCheck(path, "ok", f"{n} items, official archive checksum"))
        elif info.content_md5.get(key) and hashlib.md5(content, usedforsecurity=False).hexdigest() == info.content_md5[key]:
            checks.append(FileCheck(path, "ok", f"{n} items, official content checksum (recompressed copy)"))
        elif info.content_md5.get(key) or info.archive_md5.get(key):
            checks.append(FileCheck(path, "mismatch", f"{n} items; checksum differs from the official release "
                                                      "(a subset or modified copy)"))
        else:
            checks.append(FileCheck(path, "unverified", f"{n} items"))
    return checks
