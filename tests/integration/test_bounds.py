"""Sizes and numbers are bounded before work starts (issue 50): a network too large to build, a seed beyond 32 bits,
a class range of a billion, a huge --set key, more workers than cores, a config asking for a huge network, and a
file name that is not UTF-8 each get one line (or a note), never a traceback or an allocation error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import oneclass
from oneclass.cli import main
from oneclass.errors import InputError, ModelFileError
from tests.integration.test_bad_inputs import refused

TRAIN = ["train", "--method", "ae", "--dataset", "fashion-mnist-mini", "--normal-class", "0", "--epochs", "1"]


@pytest.mark.parametrize("extra, fragments", [
    (["--set", "widths=[4,1000000000]"], ("ae: these settings make a network of", "lower widths")),
    (["--set", "latent_dim=1000000000"], ("ae: these settings make a network of", "GB)")),
    (["--seed", str(2**70)], ("seed must be an integer in [0, 4294967295]",)),
    (["--set", "k" * 100_000 + "=1"], ("not a hyper-parameter name",)),
])
def test_sizes_beyond_bounds_are_one_line_before_training(extra, fragments, tmp_path, capsys):
    err = refused([*TRAIN, *extra, "--out", tmp_path / "m"], capsys, *fragments)
    assert len(err) < 400 and not (tmp_path / "m").exists()


def test_every_network_is_sized_before_it_is_built(mini):
    x = mini["x_train"][:60]
    for method, params in [("oled", {"widths": (4, 10**9, 4)}), ("adacl", {"widths": (4, 10**9)}),
                           ("knn_geom", {"widths": (4, 8, 10**9)}), ("dsvdd", {"widths": (4, 10**9)})]:
        with pytest.raises(InputError, match=f"{method}: these settings make a network of"):
            oneclass.create(method, epochs=1, **params).fit(x)


def test_a_class_range_of_a_billion_and_more_workers_than_cores(tmp_path, capsys):
    refused(["bench", "--methods", "ocsvm", "--dataset", "fashion-mnist-mini", "--classes", "0-1000000000",
             "--out", tmp_path / "r.jsonl"], capsys, "--classes", "class numbers run from 0 to 999")
    cores = os.cpu_count() or 1
    assert main(["bench", "--methods", "ocsvm", "--dataset", "fashion-mnist-mini", "--classes", "0",
                 "--workers", str(cores + 5), "--out", str(tmp_path / "r.jsonl")]) == 0
    assert f"this machine has {cores} cores; running {cores} workers" in capsys.readouterr().out


def test_a_config_asking_for_a_huge_network_is_refused_at_load(mini, tmp_path):
    saved = oneclass.create("ae", epochs=1, widths=(4, 8)).fit(mini["x_train"][:40]).save(tmp_path / "ae")
    config = json.loads((saved / "config.json").read_text())
    config["params"]["widths"] = [4, 10**9]
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=r"weights.safetensors: .*config.json \(ae: these settings make a network"):
        oneclass.load(saved)


def test_a_file_name_that_is_not_utf8_is_escaped_in_the_csv(mini, tmp_path, capsys):
    saved = oneclass.create("ocsvm").fit(mini["x_train"][:40]).save(tmp_path / "m")
    images = tmp_path / "images"
    images.mkdir()
    name = os.fsdecode(b"scan-\xff.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(images / name)
    assert main(["score", "--model", str(saved), str(images), "--csv", str(tmp_path / "s.csv")]) == 0
    rows = (tmp_path / "s.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 2 and Path(rows[1].split(",")[0]).name == "scan-\\xff.png"
    capsys.readouterr()
