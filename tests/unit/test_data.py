"""Readers, catalog and protocols, on fixtures written here in the canonical layouts."""

import gzip
import pickle

import numpy as np
import pytest
from PIL import Image

from oneclass.data.caltech import caltech_categories
from oneclass.data.catalog import IDX_FILES, dataset_dir, load_dataset, verify_dataset
from oneclass.data.cifar import read_cifar10, read_cifar_batch
from oneclass.data.idx import read_idx, write_idx
from oneclass.data.images import list_images, read_image, read_images, read_labelled_folder
from oneclass.data.protocols import caltech, make_split, memae, one_vs_rest, outlier_ratio
from oneclass.errors import DataError


def write_mnist_tree(folder, n_train=30, n_test=20, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "y_train": np.arange(n_train, dtype=np.uint8) % 10,
              "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "y_test": np.arange(n_test, dtype=np.uint8) % 10}
    for key, stem in IDX_FILES.items():
        write_idx(folder / (stem + (".gz" if gz else "")), arrays[key])
    return arrays


# ------------------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    arrays = write_mnist_tree(tmp_path / "mnist", gz=gz)
    stem = IDX_FILES["x_train"] + (".gz" if gz else "")
    np.testing.assert_array_equal(read_idx(tmp_path / "mnist" / stem), arrays["x_train"])


def test_gzip_is_detected_by_content_not_name(tmp_path):
    write_idx(tmp_path / "plain-name", np.zeros((2, 3), np.uint8), compress=True)
    assert read_idx(tmp_path / "plain-name").shape == (2, 3)


def test_truncated_idx_names_the_file(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    write_idx(path, np.zeros((10, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: truncated IDX file: expected 7840 bytes.*found 7740"):
        read_idx(path)


def test_truncated_gzip_names_the_file(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(bytes(5000))[:-30])
    with pytest.raises(DataError, match="x.gz: truncated or corrupt gzip"):
        read_idx(path)


def test_not_idx(tmp_path):
    (tmp_path / "f").write_bytes(b"hello world")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "f")


# ------------------------------------------------------------------------------------------- CIFAR


def write_cifar_tree(folder, byte_keys, n=4):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    key = (lambda s: s.encode()) if byte_keys else (lambda s: s)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = list(rng.integers(0, 10, n))
        batches[name] = (data, labels)
        with (folder / name).open("wb") as f:
            pickle.dump({key("batch_label"): key("x"), key("data"): data, key("labels"): [int(v) for v in labels]}, f,
                        protocol=2)
    return batches


@pytest.mark.parametrize("byte_keys", [True, False])
def test_cifar_reader_handles_byte_and_str_keys(tmp_path, byte_keys):
    batches = write_cifar_tree(tmp_path / "cifar-10-batches-py", byte_keys)
    data = read_cifar10(tmp_path / "cifar-10-batches-py")
    assert data["x_train"].shape == (20, 32, 32, 3) and data["x_test"].shape == (4, 32, 32, 3)
    raw = batches["test_batch"][0]
    # row-major 3072 = 3 planes of 32×32: pixel (0, 0) of image 0 in channels R, G, B
    assert tuple(data["x_test"][0, 0, 0]) == (raw[0, 0], raw[0, 1024], raw[0, 2048])
    np.testing.assert_array_equal(data["y_test"], batches["test_batch"][1])


def test_cifar_reader_refuses_code_in_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo pwned",))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": Evil(), "labels": []}))
    with pytest.raises(DataError, match="refusing to load"):
        read_cifar_batch(path)


# ------------------------------------------------------------------------------------------- images


def test_image_folder_with_normal_and_abnormal(tmp_path):
    for sub, value, n in [("normal", 10, 3), ("abnormal", 200, 2)]:
        (tmp_path / sub).mkdir()
        for i in range(n):
            Image.fromarray(np.full((20, 24), value, np.uint8)).save(tmp_path / sub / f"{i}.png")
    (tmp_path / "normal" / ".DS_Store").write_bytes(b"junk")
    x, y, paths = read_labelled_folder(tmp_path, size=(28, 28))
    assert x.shape == (5, 28, 28) and list(y) == [0, 0, 0, 1, 1] and len(paths) == 5
    assert x[0].max() == 10 and x[-1].min() == 200


def test_images_are_converted_to_the_requested_channels(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "rgb.png")
    assert read_image(tmp_path / "rgb.png", channels=1).shape == (8, 8)
    assert read_images([tmp_path / "rgb.png"], size=(4, 6), channels=3).shape == (1, 4, 6, 3)


def test_corrupt_png_names_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(bad)
    bad.write_bytes(bad.read_bytes()[:30])
    with pytest.raises(DataError, match="broken.png: not a readable image"):
        read_image(bad)


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        list_images(tmp_path / "nope")


# ------------------------------------------------------------------------------------------- Caltech


def test_caltech_layout_skips_junk_and_empty_folders(tmp_path):
    base = tmp_path / "256_ObjectCategories"
    for cat, n in [("001.ak47", 3), ("198.spider", 2), ("257.clutter", 4), ("050.empty", 0)]:
        (base / cat).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(base / cat / f"{cat[:3]}_{i:04d}.jpg")
    (base / "198.spider" / "RENAME2").write_text("junk")
    cats = caltech_categories(tmp_path)
    assert list(cats) == ["001.ak47", "198.spider", "257.clutter"]
    assert [p.name for p in cats["198.spider"]] == ["198_0000.jpg", "198_0001.jpg"]


# ------------------------------------------------------------------------------------------- catalog


def test_explicit_root_then_environment(tmp_path, monkeypatch):
    write_mnist_tree(tmp_path / "a" / "mnist", seed=1)
    write_mnist_tree(tmp_path / "b" / "mnist", seed=2)
    monkeypatch.setenv("ONECLASS_DATA", str(tmp_path / "b"))
    assert dataset_dir("mnist", tmp_path / "a") == tmp_path / "a" / "mnist"
    assert dataset_dir("mnist") == tmp_path / "b" / "mnist"
    assert load_dataset("mnist")["x_train"].shape == (30, 28, 28)


def test_missing_root_and_missing_dataset_say_what_to_do(tmp_path):
    with pytest.raises(DataError, match="--data-root .*no such directory"):
        load_dataset("mnist", tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"place train-images-idx3-ubyte.gz.*in .*/mnist/"):
        load_dataset("mnist", tmp_path, download=False)


def test_verify_reports_checksums(tmp_path, shared_data):
    checks = verify_dataset("fashion-mnist", shared_data)
    assert [c.status for c in checks] == ["ok"] * 4  # Debian's recompressed copy verifies by content
    write_mnist_tree(tmp_path / "mnist")
    assert {c.status for c in verify_dataset("mnist", tmp_path)} == {"mismatch"}


def test_embedded_subset_is_real_and_stratified(mini):
    assert mini["x_train"].shape == (2500, 28, 28) and mini["x_test"].shape == (1000, 28, 28)
    assert (np.bincount(mini["y_train"]) == 250).all() and (np.bincount(mini["y_test"]) == 100).all()
    assert verify_dataset("fashion-mnist-mini")[0].status == "ok"


# ------------------------------------------------------------------------------------------- protocols


def test_one_vs_rest(mini):
    """Train: exactly the normal class's training images; test: the whole test split, labelled by class; the
    validation set comes out of the training split: normals held out of training, outliers of other classes."""
    s = one_vs_rest(mini, normal_class=3)
    np.testing.assert_array_equal(s.x_train, mini["x_train"][mini["y_train"] == 3])
    np.testing.assert_array_equal(s.x_test, mini["x_test"])
    np.testing.assert_array_equal(s.y_test, (mini["y_test"] != 3).astype(int))
    assert s.val is None
    s = one_vs_rest(mini, normal_class=3, val_normal=50, val_outliers=20)
    assert len(s.x_train) == 200 and s.x_val.shape == (70, 28, 28) and list(s.y_val) == [0] * 50 + [1] * 20
    by_image = {x.tobytes(): int(y) for x, y in zip(mini["x_train"], mini["y_train"], strict=True)}
    train, val_normal, val_outliers = ({x.tobytes() for x in a} for a in (s.x_train, s.x_val[:50], s.x_val[50:]))
    assert {by_image[k] for k in train | val_normal} == {3} and len(train | val_normal) == 250
    assert not train & val_normal
    assert 3 not in {by_image[k] for k in val_outliers} and len(val_outliers) == 20


def test_one_vs_rest_train_per_class_keeps_a_random_subset_of_each_normal_class(mini):
    """`train_per_class` keeps that many distinct training images of each normal class, a different draw per seed;
    the test split and the outlier pool are untouched, and the validation normals come out of the kept images."""
    by_image = {x.tobytes(): int(y) for x, y in zip(mini["x_train"], mini["y_train"], strict=True)}
    s = one_vs_rest(mini, normal_class=[3, 5], train_per_class=40)
    kept = [by_image[x.tobytes()] for x in s.x_train]
    assert sorted(kept) == [3] * 40 + [5] * 40 and len({x.tobytes() for x in s.x_train}) == 80
    np.testing.assert_array_equal(s.x_test, mini["x_test"])
    assert s.info["train_per_class"] == 40
    other = one_vs_rest(mini, normal_class=[3, 5], seed=1, train_per_class=40)
    assert {x.tobytes() for x in other.x_train} != {x.tobytes() for x in s.x_train}
    s = one_vs_rest(mini, normal_class=3, train_per_class=60, val_normal=10, val_outliers=30)
    assert len(s.x_train) == 50 and {by_image[x.tobytes()] for x in s.x_val[10:]} & {3} == set()
    assert len(one_vs_rest(mini, normal_class=3, train_per_class=10_000).x_train) == 250
    with pytest.raises(DataError, match="train_per_class"):
        one_vs_rest(mini, normal_class=3, train_per_class=0)


def test_memae_split_ratios(mini):
    s = memae(mini, normal_class=2, seed=0)
    n_normal = 350  # 250 train + 100 test images of the class, pooled
    assert len(s.x_train) == round(n_normal * 2 / 3)
    n_test_normal = n_normal - len(s.x_train)
    assert (s.y_test == 0).sum() == n_test_normal
    assert s.y_test.mean() == pytest.approx(0.3, abs=0.01)
    # no image is both in train and test; normals are the class's images, anomalies the other classes'
    train = {x.tobytes() for x in s.x_train}
    assert not any(x.tobytes() in train for x in s.x_test)
    label_of = {x.tobytes(): int(y) for split in ("train", "test")
                for x, y in zip(mini[f"x_{split}"], mini[f"y_{split}"], strict=True)}
    assert {label_of[x.tobytes()] for x in s.x_train} == {2}
    assert {label_of[x.tobytes()] for x in s.x_test[s.y_test == 0]} == {2}
    assert 2 not in {label_of[x.tobytes()] for x in s.x_test[s.y_test == 1]}


def test_memae_train_per_class_subsets_training_only(mini):
    """`train_per_class` keeps a random subset of the training two thirds of each normal class; the test set is the
    one the full split has, and the validation normals come out of the kept images."""
    full = memae(mini, normal_class=[2, 6], seed=0)
    s = memae(mini, normal_class=[2, 6], seed=0, train_per_class=50)
    np.testing.assert_array_equal(s.x_test, full.x_test)
    np.testing.assert_array_equal(s.y_test, full.y_test)
    label_of = {x.tobytes(): int(y) for split in ("train", "test")
                for x, y in zip(mini[f"x_{split}"], mini[f"y_{split}"], strict=True)}
    assert sorted(label_of[x.tobytes()] for x in s.x_train) == [2] * 50 + [6] * 50
    assert {x.tobytes() for x in s.x_train} <= {x.tobytes() for x in full.x_train}
    assert s.info["train_per_class"] == 50 and "train_per_class" not in full.info
    held = memae(mini, normal_class=2, seed=0, train_per_class=50, val_normal=10, val_outliers=10)
    assert len(held.x_train) == 40 and {label_of[x.tobytes()] for x in held.x_val[:10]} == {2}
    with pytest.raises(DataError, match="train_per_class"):
        memae(mini, normal_class=2, train_per_class=0)


def test_unknown_protocol_and_class(mini):
    with pytest.raises(DataError, match="unknown protocol"):
        make_split("nope", mini, 0)
    with pytest.raises(DataError, match="normal class 12 does not occur"):
        one_vs_rest(mini, 12)


def test_outlier_ratio_sets_are_nested_and_hold_the_stated_share(mini):
    s = outlier_ratio(mini, normal_class=4, seed=1)
    np.testing.assert_array_equal(s.x_train, mini["x_train"][mini["y_train"] == 4])
    assert {x.tobytes() for x in s.x_test[s.y_test == 0]} == {x.tobytes() for x in mini["x_test"][mini["y_test"] == 4]}
    assert list(s.test_sets) == ["10%", "20%", "30%", "40%", "50%"]
    previous: set[int] = set()
    for name, idx in s.test_sets.items():
        share = s.y_test[idx].mean()
        assert share == pytest.approx(float(name.rstrip("%")) / 100, abs=0.005)
        assert (s.y_test[idx] == 0).sum() == 100
        assert previous <= set(idx.tolist())  # the outliers of 10 % are among those of 20 %, ...
        previous = set(idx.tolist())
    assert len(s.x_test) == len(s.test_sets["50%"])
    outliers = {x.tobytes() for x in s.x_test[s.y_test == 1]}
    assert not outliers & {x.tobytes() for x in mini["x_test"][mini["y_test"] == 4]}
    other = outlier_ratio(mini, normal_class=4, seed=2)
    assert not np.array_equal(other.x_test[s.y_test == 1], s.x_test[s.y_test == 1])


def test_outlier_ratio_refuses_impossible_shares(mini):
    with pytest.raises(DataError, match="between 0 and 1"):
        outlier_ratio(mini, 0, ratios=(0.5, 1.0))
    with pytest.raises(DataError, match="need 9900 images of other classes"):
        outlier_ratio(mini, 0, ratios=(0.99,))


def _caltech_tree(root, categories=8, per=6, clutter=40):
    base = root / "caltech256" / "256_ObjectCategories"
    rng = np.random.default_rng(0)
    folders = [f"{i:03d}.thing{i}" for i in range(1, categories + 1)] + ["257.clutter"]
    for folder in folders:
        (base / folder).mkdir(parents=True)
        n = clutter if folder == "257.clutter" else per
        for j in range(n):
            size = tuple(int(v) for v in rng.integers(20, 40, 2))
            shade = 40 if folder == "257.clutter" else 10 * int(folder[:3])
            image = np.full((*size, 3), shade, np.uint8) if j % 2 else np.full(size, shade, np.uint8)  # grey + colour
            Image.fromarray(image).save(base / folder / f"{folder[:3]}_{j + 1:04d}.jpg")
    (base / "001.thing1" / "RENAME2").write_text("junk")
    return root


def test_caltech_protocol_on_a_generated_tree(tmp_path):
    data = load_dataset("caltech256", _caltech_tree(tmp_path), download=False)
    assert len(data["categories"]) == 9 and len(data["paths"]) == 8 * 6 + 40
    for n in (1, 3, 5):
        s = caltech(data, n, seed=0, image_size=16, per_category=3)
        assert len(s.info["categories"]) == n and "257.clutter" not in s.info["categories"]
        assert s.x_train.shape[1:] == (16, 16, 3) and s.x_test.shape[1:] == (16, 16, 3)
        assert len(s.x_train) == round(3 * n * 2 / 3)  # the first 3 images of each category, 2/3 trained on
        assert s.y_test.mean() == 0.5  # exactly half outliers
    picks = {tuple(caltech(data, 3, seed=k, image_size=8).info["categories"]) for k in range(3)}
    assert len(picks) > 1  # repetitions draw other categories
    t = caltech(data, 2, seed=0, image_size=8, transductive=True)
    assert len(t.x_train) == 12 and (t.y_test == 0).sum() == 12 and t.y_test.mean() == 0.5
    v = caltech(data, 2, seed=0, image_size=8, val_normal=2, val_outliers=3)
    assert v.x_val.shape == (5, 8, 8, 3) and v.y_val.sum() == 3


def test_caltech_protocol_needs_clutter_and_enough_categories(tmp_path):
    data = load_dataset("caltech256", _caltech_tree(tmp_path, categories=2, clutter=3), download=False)
    with pytest.raises(DataError, match="must be 1 to 2"):
        caltech(data, 3)
    with pytest.raises(DataError, match="257.clutter has 3 images"):
        caltech(data, 2, transductive=True)
    assert make_split("caltech", data, 1, image_size=8).y_test.mean() == 0.5
    with pytest.raises(DataError, match="caltech protocol and the caltech256 dataset go together"):
        make_split("one-vs-rest", data, 1)


def test_caltech_missing_says_where_to_put_the_archive(tmp_path):
    with pytest.raises(DataError, match="256_ObjectCategories.tar"):
        load_dataset("caltech256", tmp_path, download=False)
