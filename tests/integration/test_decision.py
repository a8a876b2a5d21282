"""Decisions: the threshold `fit` sets on held-out normal images, `predict`, normalised scores, and what `oneclass
score` prints and writes with them (--csv, --heatmaps)."""

from __future__ import annotations

import csv
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import oneclass
from oneclass.bench.grid import Cell
from oneclass.cli import main
from oneclass.core import Decision
from oneclass.core.results import CSV_COLUMNS
from oneclass.data.images import read_images
from oneclass.errors import ModelFileError, OneClassError
from tests.integration.test_bad_inputs import refused

TINY_AE = {"epochs": 1, "widths": (4, 8), "device": "cpu"}


@pytest.fixture(scope="module")
def trousers(mini) -> np.ndarray:
    return mini["x_train"][mini["y_train"] == 1]  # 250 images


@pytest.fixture(scope="module")
def fitted(trousers):
    return oneclass.create("ae", **TINY_AE).fit(trousers)


def test_fit_holds_out_a_tenth_of_the_normals_and_sets_the_threshold_on_them(fitted, trousers):
    assert fitted.fit_info_["n_train"] == 225
    d = fitted.decision_
    assert (d.source, d.n, d.fpr, d.score) == ("held-out", 25, 0.05, "rec")
    held = torch.randperm(250, generator=torch.Generator().manual_seed(0))[:25].numpy()  # the draw `fit` makes
    held_scores = fitted.score(trousers[held]).default
    assert d.threshold == pytest.approx(np.sort(held_scores)[23], rel=1e-6)  # the 24th of 25: 1 above, 4 %
    assert d.low == pytest.approx(held_scores.min(), rel=1e-6)


def test_the_threshold_is_the_quantile_that_keeps_the_false_positive_rate_at_most_the_target():
    det = oneclass.create("ae", threshold_fpr=0.05)
    scores = np.arange(1.0, 101.0)
    d = Decision.from_scores(scores, fpr=det.threshold_fpr, score="rec", source="held-out")
    assert d.threshold == 96.0 and d.low == 1.0
    det.decision_, det.normalisation_ = d, {"kind": "linear", "range": [-1, 1]}
    assert det.decide(scores).sum() == 4  # 97..100: 4 % of these normals flagged
    assert det.decide(np.array([96.0, 96.5])).tolist() == [0, 1]
    np.testing.assert_allclose(det.normalised(np.array([0.0, 1.0, 48.5, 96.0, 191.0, 500.0])),
                               [0.0, 0.0, 0.25, 0.5, 1.0, 1.0], rtol=1e-6)


def test_validation_normals_set_the_threshold_and_nothing_more_is_held_out(trousers, mini):
    val_x = np.concatenate([trousers[:30], mini["x_train"][mini["y_train"] == 5][:10]])
    val_y = np.r_[np.zeros(30, int), np.ones(10, int)]
    det = oneclass.create("ae", **TINY_AE).fit(trousers[30:], val=(val_x, val_y))
    assert det.fit_info_["n_train"] == 220 and (det.decision_.source, det.decision_.n) == ("val", 30)


@pytest.mark.parametrize("n, calibration", [(150, 0.1), (250, 0.0)])
def test_too_few_normals_to_hold_out_or_calibration_0_train_on_all_and_say_so(trousers, n, calibration):
    det = oneclass.create("ae", **TINY_AE, calibration=calibration).fit(trousers[:n])
    assert det.fit_info_["n_train"] == n and (det.decision_.source, det.decision_.n) == ("training", n)


def test_predict_decides_with_the_default_score(fitted, mini):
    x = mini["x_test"][:50]
    expected = (fitted.score(x).default > fitted.decision_.threshold).astype(int)
    np.testing.assert_array_equal(fitted.predict(x), expected)
    assert 0 < expected.sum() < 50


def test_the_decision_is_saved_and_loaded(fitted, tmp_path, mini):
    fitted.save(tmp_path / "m")
    back = oneclass.load(tmp_path / "m")
    assert back.decision_ == fitted.decision_
    np.testing.assert_array_equal(back.predict(mini["x_test"][:50]), fitted.predict(mini["x_test"][:50]))


def test_a_model_saved_without_a_decision_scores_but_does_not_decide(fitted, tmp_path, mini):
    fitted.save(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["decision"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    old = oneclass.load(tmp_path / "old")
    assert len(old.score(mini["x_test"][:5]).default) == 5
    with pytest.raises(OneClassError, match="no decision threshold"):
        old.predict(mini["x_test"][:5])


def test_a_damaged_decision_is_refused_on_load(fitted, tmp_path):
    fitted.save(tmp_path / "bad")
    path = tmp_path / "bad" / "config.json"
    config = json.loads(path.read_text())
    config["decision"]["threshold"] = "high"
    path.write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="decision"):
        oneclass.load(tmp_path / "bad")


def test_bench_cells_train_on_the_whole_training_split():
    params, _ = Cell("ae", "fashion-mnist", "one-vs-rest", 0, 0, "fast").settings()
    assert params["calibration"] == 0.0
    params, _ = Cell("ae", "fashion-mnist", "one-vs-rest", 0, 0, "fast", {"calibration": 0.2}).settings()
    assert params["calibration"] == 0.2


# ------------------------------------------------------------------------------------------- oneclass score


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    return fitted.save(tmp_path_factory.mktemp("decision") / "ae")


@pytest.fixture(scope="module")
def folder(mini, tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    for sub, label in (("normal", 1), ("abnormal", 5)):
        (root / sub).mkdir()
        for i, img in enumerate(mini["x_test"][mini["y_test"] == label][:3]):
            Image.fromarray(img).save(root / sub / f"{sub}, {i}.png")  # a comma: the CSV must quote it
    return root


def test_score_prints_the_decision_and_writes_the_csv(saved, folder, tmp_path, capsys, fitted):
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(saved), str(folder), "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "threshold rec >" in printed and "5%" in printed
    with out.open() as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 7
    paths = [Path(r[0]) for r in rows[1:]]
    assert all(p.is_file() for p in paths) and paths[0].name == "normal, 0.png"
    expected = fitted.score(read_images(paths, size=(28, 28), channels=1)).default
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], expected, rtol=1e-5)
    assert [int(r[3]) for r in rows[1:]] == fitted.decide(expected).tolist()
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], fitted.normalised(expected), atol=1e-4)
    for r in rows[1:]:
        assert ("ANOMALOUS" if r[3] == "1" else "normal") in next(line for line in printed.splitlines() if r[0] in line)
    assert main(["score", "--model", str(saved), str(folder), "--csv", str(out)]) == 0  # its own file: replaced


def test_score_json_carries_the_decision(saved, folder, capsys):
    assert main(["score", "--model", str(saved), str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decision"]["source"] == "held-out"
    assert all(isinstance(i["anomalous"], bool) and 0 <= i["normalised"] <= 1 for i in out["images"])


def test_score_writes_heatmap_overlays_named_by_the_images_relative_paths(saved, folder, tmp_path, capsys):
    maps = tmp_path / "maps"
    assert main(["score", "--model", str(saved), str(folder), "--heatmaps", str(maps)]) == 0
    written = sorted(str(p.relative_to(maps)) for p in maps.rglob("*.png"))
    assert written == ["abnormal/abnormal, 0.png", "abnormal/abnormal, 1.png", "abnormal/abnormal, 2.png",
                       "colour-scale.png", "normal/normal, 0.png", "normal/normal, 1.png", "normal/normal, 2.png"]
    with Image.open(maps / "normal" / "normal, 0.png") as img:
        assert img.size == (112, 112) and img.mode == "RGB"
    # again into the same folder: it holds only our output, in subfolders too, so it is replaced as a whole
    assert main(["score", "--model", str(saved), str(folder / "normal" / "normal, 0.png"), str(folder / "abnormal" /
                 "abnormal, 0.png"), str(folder / "normal" / "normal, 0.png"), "--heatmaps", str(maps)]) == 0
    assert {p.name for p in maps.iterdir()} == {"normal, 0-1.png", "normal, 0-3.png", "abnormal, 0.png",
                                                "colour-scale.png", ".oneclass-heatmaps"}
    (maps / "notes.txt").write_text("mine")
    refused(["score", "--model", saved, folder, "--heatmaps", maps], capsys, "--heatmaps", "holds other files")


def test_heatmaps_never_replace_the_users_own_pngs(saved, folder, tmp_path, capsys):
    """A folder of the user's PNGs, named as heatmaps would be, is not ours (no marker): refused, left as it was."""
    mine = tmp_path / "mine"
    (mine / "normal").mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(mine / "normal" / "normal, 0.png")
    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(mine / "colour-scale.png")
    refused(["score", "--model", saved, folder, "--heatmaps", mine], capsys, "--heatmaps", "holds other files",
            unchanged=[mine])


def test_a_full_disk_while_writing_heatmaps_names_the_file_and_leaves_the_folder_as_it_was(saved, folder, tmp_path,
                                                                                           capsys, monkeypatch):
    maps = tmp_path / "maps"
    assert main(["score", "--model", str(saved), str(folder), "--heatmaps", str(maps)]) == 0
    capsys.readouterr()
    real_fsync, calls = os.fsync, []

    def fills_up(fd):  # the third file written finds the disk full
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fills_up)
    err = refused(["score", "--model", saved, folder, "--heatmaps", maps], capsys, "No space left on device",
                  unchanged=[maps])
    assert re.search(re.escape(str(maps)) + r"/[^:]+\.png: cannot write it", err) and ".maps.writing" not in err
    assert not list(tmp_path.glob(".maps.writing*"))


def test_score_says_per_image_what_was_converted_to_the_models_input(saved, tmp_path, capsys):
    """The model takes 28×28 grey images: a 40×30 colour one is scored, and said to be converted, in the text, the
    JSON and the service's answer alike (ImageResult.converted)."""
    Image.fromarray(np.full((30, 40, 3), 90, np.uint8)).save(tmp_path / "photo.png")
    Image.fromarray(np.full((28, 28), 90, np.uint8)).save(tmp_path / "fits.png")
    assert main(["score", "--model", str(saved), str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "(resized from 30×40, colour to grey)" in next(line for line in out.splitlines() if "photo.png" in line)
    assert "(" not in next(line for line in out.splitlines() if "fits.png" in line)
    assert "1 of 2 images were resized or converted to the model's input (28×28, grey)" in out
    assert main(["score", "--model", str(saved), str(tmp_path), "--json"]) == 0
    images = json.loads(capsys.readouterr().out)["images"]
    assert [i["converted"] for i in images] == [None, "resized from 30×40, colour to grey"]


def test_score_refuses_to_overwrite_a_users_file_with_the_csv(saved, folder, tmp_path, capsys):
    mine = tmp_path / "notes.csv"
    mine.write_text("my,own,data\n")
    refused(["score", "--model", saved, folder, "--csv", mine], capsys, "--csv", "not a scores file",
            unchanged=[mine, folder])


def test_score_refuses_heatmaps_for_a_method_without_maps(folder, tmp_path, capsys, trousers):
    path = oneclass.create("ocsvm").fit(trousers[:100]).save(tmp_path / "svm")
    refused(["score", "--model", path, folder, "--heatmaps", tmp_path / "maps"], capsys, "--heatmaps",
            "no anomaly maps", unchanged=[folder])
    assert not (tmp_path / "maps").exists()


def test_oled_scales_its_scores_by_the_held_out_normals_so_an_image_scores_alone(trousers, mini, tmp_path):
    params = {"epochs": 1, "widths": (8, 8, 8), "mask_widths": (4, 4), "kernel": 3, "device": "cpu"}
    det = oneclass.create("oled", **params).fit(trousers)
    assert det.fit_info_["n_train"] == 225 and det.decision_.source == "held-out"
    assert set(det.score_ranges_) == {"mask", "cont", "rec"}
    x = mini["x_test"][:20]
    together = det.score(x).default
    alone = np.array([det.score(x[i:i + 1]).default[0] for i in range(3)])
    np.testing.assert_allclose(alone, together[:3], rtol=1e-5)  # the same score, whatever is scored with it
    back = oneclass.load(det.save(tmp_path / "oled"))
    assert back.score_ranges_ == det.score_ranges_
    np.testing.assert_array_equal(back.predict(x), det.predict(x))


def test_oled_scaled_over_the_scored_set_as_its_paper_refuses_to_decide(trousers):
    det = oneclass.create("oled", epochs=1, widths=(8, 8, 8), mask_widths=(4, 4), kernel=3, device="cpu",
                          score_scaling="scored-set").fit(trousers)
    assert det.decision_ is None and det.fit_info_["n_train"] == 250  # nothing held out for a threshold
    x = trousers[:10]
    scores = det.score(x)
    assert scores["rec"].min() == 0.0 and scores["rec"].max() == 1.0  # min-max over these ten
    with pytest.raises(OneClassError, match="min-max scaled over the images scored together"):
        det.predict(x)


def test_bench_cells_evaluate_oled_as_its_paper():
    params, _ = Cell("oled", "mnist", "memae", 0, 0, "fast").settings()
    assert params["score_scaling"] == "scored-set" and params["calibration"] == 0.0


def test_a_collapsed_training_warns_in_one_line():
    """ADACL for one epoch on 40 noise images scores most of them 0: no threshold can split them, and fit says so in
    one line (the CLI prints it as `oneclass: warning: ...`). A fit that ranks its normals says nothing."""
    noise = np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    with pytest.warns(UserWarning, match=r"\d+ of 40 training normal images get the same regression score .*collapsed") as w:
        oneclass.create("adacl", epochs=1, seed=0).fit(noise)
    assert "\n" not in str(w[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        oneclass.create("ocsvm", seed=0).fit(noise)
