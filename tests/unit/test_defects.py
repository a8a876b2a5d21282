"""The generated defects data set (`oneclass data make-defects`) and the MVTec-AD-layout reader."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from oneclass.data.defects import CATEGORIES, DEFECTS, make_defects, make_image
from oneclass.data.mvtec import categories, read_category
from oneclass.errors import DataError

SMALL = {"n_train": 3, "n_test_good": 2, "n_per_defect": 2}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_defects(tmp_path_factory.mktemp("defects") / "set", **SMALL)


def files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def test_the_layout_is_mvtec_ads_and_every_defective_image_has_its_mask(root):
    assert categories(root) == sorted(CATEGORIES)
    for c in CATEGORIES:
        assert len(list((root / c / "train" / "good").glob("*.png"))) == 3
        assert sorted(p.name for p in (root / c / "test").iterdir()) == sorted(("good", *DEFECTS))
        for d in DEFECTS:
            for image in (root / c / "test" / d).glob("*.png"):
                mask = np.asarray(Image.open(root / c / "ground_truth" / d / f"{image.stem}_mask.png"))
                assert mask.shape == (128, 128) and set(np.unique(mask)) == {0, 255}


def test_the_same_seed_gives_the_same_files_and_another_seed_others(root, tmp_path):
    again = make_defects(tmp_path / "again", **SMALL)
    assert files(again) == files(root)
    other = make_defects(tmp_path / "other", categories=("tile",), seed=1, **SMALL)
    assert files(other).keys() <= files(root).keys() and files(other) != {k: files(root)[k] for k in files(other)}


@pytest.mark.parametrize("category", CATEGORIES)
@pytest.mark.parametrize("defect", DEFECTS)
def test_a_mask_is_exactly_the_pixels_the_defect_changed(category, defect):
    """Drawn from the same stream with and without the defect: the pixels under the mask changed far more than the
    others (which differ only by the sensor noise, drawn after the defect)."""
    image, mask = make_image(category, np.random.default_rng(7), defect)
    assert 10 <= mask.sum() <= 0.1 * mask.size  # a defect, not the whole image
    normal = make_image(category, np.random.default_rng(7))[0].astype(int)
    changed = np.abs(image.astype(int) - normal).max(-1)
    assert np.median(changed[mask]) > 3 * np.median(changed[~mask]) + 10  # the defect is visible where the mask is


def test_a_folder_that_holds_files_is_not_written_into(root):
    before = files(root)
    with pytest.raises(DataError, match="already exists and is not empty"):
        make_defects(root, **SMALL)
    assert files(root) == before


def test_read_category_gives_images_labels_and_masks_at_one_size(root):
    pill = read_category(root / "pill", size=(32, 48))
    assert pill.train.images.shape == (3, 32, 48, 3) and pill.test.images.shape == (10, 32, 48, 3)
    assert pill.masks.shape == (10, 32, 48) and pill.labels.sum() == 8
    assert not pill.masks[pill.labels == 0].any() and all(m.any() for m in pill.masks[pill.labels == 1])
    assert pill.defects.count("good") == 2


def test_a_missing_mask_or_missing_good_images_are_named(root, tmp_path):
    import shutil

    copy = tmp_path / "wood"
    shutil.copytree(root / "wood", copy)
    (copy / "ground_truth" / "spot" / "001_mask.png").unlink()
    with pytest.raises(DataError, match=r"spot/001.png: no mask .*001_mask.png"):
        read_category(copy)
    shutil.rmtree(copy / "test" / "good")
    with pytest.raises(DataError, match="needs good images"):
        read_category(copy)
    with pytest.raises(DataError, match="not in MVTec AD's layout"):
        read_category(copy / "test")
