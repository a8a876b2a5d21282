"""What a careless user gives the command line: each bad input gets exit status 2, one line naming the file or
option and what to do (no traceback), and leaves every input file as it was (hashed before and after)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import oneclass
from oneclass.cli import main


def _hashes(paths) -> dict[str, str]:
    """sha256 of every file under the given files and folders."""
    out = {}
    for root in map(Path, paths):
        for p in sorted([root] if root.is_file() else root.rglob("*")):
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def refused(argv: list[str], capsys, *fragments: str, unchanged=()) -> str:
    """Run the CLI; it must exit with 2 and one error line holding every fragment, files in `unchanged` intact."""
    before = _hashes(unchanged)
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    assert _hashes(unchanged) == before
    return err


@pytest.fixture(scope="module")
def model(tmp_path_factory, mini) -> Path:
    """A small trained ae, saved."""
    path = tmp_path_factory.mktemp("models") / "ae"
    oneclass.create("ae", epochs=1, widths=(4, 8)).fit(mini["x_train"][mini["y_train"] == 1][:64]).save(path)
    return path


@pytest.fixture
def model_copy(model, tmp_path) -> Path:
    """A copy of the saved model to tamper with."""
    copy = tmp_path / "model"
    copy.mkdir()
    for f in model.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    return copy


# ------------------------------------------------------------------------------------------- results files


def test_bench_refuses_an_out_file_that_is_not_a_results_file(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\nline two, no newline at the end")
    refused(["bench", "--methods", "ae", "--dataset", "fashion-mnist-mini", "--classes", "0", "--epochs", "1",
             "--out", notes], capsys, "--out", "notes.txt", "not a results file", unchanged=[notes])
    refused(["report", notes, "--out", tmp_path / "rep"], capsys, "notes.txt", "not a results file", unchanged=[notes])
    refused(["bench", "--methods", "ae", "--dataset", "fashion-mnist-mini", "--out", tmp_path], capsys, "is a folder")


def test_broken_result_lines_are_set_aside_and_their_cells_run_again(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    args = ["bench", "--methods", "ae", "--dataset", "fashion-mnist-mini", "--classes", "0-2", "--epochs", "1",
            "--set", "widths=[4,8]", "--out", str(out)]
    assert main(args) == 0
    good = [json.loads(line) for line in out.read_text().splitlines()]
    no_metrics = {k: v for k, v in good[0].items() if k != "auroc"}
    mistyped = {**good[1], "auroc": {"rec": "0.9", "rec_norm": 0.8}}
    broken = [json.dumps(no_metrics), json.dumps(mistyped)]
    out.write_text("\n".join(broken + [json.dumps(good[2])]) + "\n")
    capsys.readouterr()

    assert main(["report", str(out), "--out", str(tmp_path / "rep")]) == 0  # the report leaves them out, saying so
    assert "2 line(s) left out" in (tmp_path / "rep" / "report.md").read_text()
    assert main(args) == 0
    assert "2 line(s) of" in capsys.readouterr().out
    assert (tmp_path / "r.jsonl.rejected").read_text().splitlines() == broken  # kept, not lost
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["normal_class"] for r in rows) == [0, 1, 2]
    assert all(isinstance(r["auroc"]["rec"], float) for r in rows)
    assert rows[0]["auroc"] == good[2]["auroc"]  # the good line stays first, as it was


# ------------------------------------------------------------------------------------------- images


def _png_claiming(path: Path, width: int, height: int) -> None:
    """A valid 1×1 PNG whose header then claims width × height pixels."""
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4: ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17: ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr: ihdr + 17])))
    path.write_bytes(bytes(data))


def test_a_huge_image_header_is_refused(model, tmp_path, capsys):
    bomb = tmp_path / "bomb.png"
    _png_claiming(bomb, 30000, 30000)
    refused(["score", "--model", model, bomb], capsys, "bomb.png", "more than 50,000,000 pixels", unchanged=[bomb, model])


def test_16_bit_and_float_images_score_as_their_8_bit_twins(model, tmp_path, capsys, mini):
    grey = mini["x_test"][:2]
    for i, img in enumerate(grey):
        Image.fromarray(img).save(tmp_path / f"{i}-8bit.png")
        Image.fromarray(img.astype(np.uint16) * 257).save(tmp_path / f"{i}-16bit.png")
        Image.fromarray(img.astype(np.float32) / 255).save(tmp_path / f"{i}-float.tif")
    assert main(["score", "--model", str(model), "--json", str(tmp_path)]) == 0
    scores = {Path(r["name"]).name: r["scores"]["rec"] for r in json.loads(capsys.readouterr().out)["images"]}
    for i in range(2):
        assert scores[f"{i}-16bit.png"] == pytest.approx(scores[f"{i}-8bit.png"], rel=1e-6)
        assert scores[f"{i}-float.tif"] == pytest.approx(scores[f"{i}-8bit.png"], rel=1e-6)
    out_of_range = tmp_path / "bad" / "hdr.tif"
    out_of_range.parent.mkdir()
    Image.fromarray(np.full((28, 28), 7.5, np.float32)).save(out_of_range)
    refused(["score", "--model", model, out_of_range], capsys, "hdr.tif", "values in [7.5, 7.5]; expected 0 to 1")


# ------------------------------------------------------------------------------------------- dataset readers


def _mnist_tree(root: Path) -> Path:
    from tests.unit.test_data import write_mnist_tree

    write_mnist_tree(root / "mnist", gz=False)
    return root / "mnist"


def test_idx_headers_that_ask_for_too_much_are_refused_before_allocating(tmp_path, capsys):
    folder = _mnist_tree(tmp_path)
    victim = folder / "train-images-idx3-ubyte"
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">III", 4_000_000_000, 4_000_000_000, 28)
    victim.write_bytes(header + bytes(100))
    train = ["train", "--method", "ae", "--dataset", "mnist", "--normal-class", "1", "--out", tmp_path / "m",
             "--data-root", tmp_path, "--no-download"]
    refused(train, capsys, "train-images-idx3-ubyte", "asks for", "not a dataset file", unchanged=[folder])
    victim.write_bytes(bytes([0, 0, 0x08, 4]) + struct.pack(">IIII", 2**32 - 1, 2**32 - 1, 2**32 - 1, 2**32 - 1))
    refused(train, capsys, "train-images-idx3-ubyte", "asks for", unchanged=[folder])  # the product overflows int64
    assert not (tmp_path / "m").exists()


def test_a_gzip_bomb_is_refused(tmp_path, capsys, monkeypatch):
    from oneclass.data import idx

    monkeypatch.setattr(idx, "MAX_FILE_BYTES", 50_000)  # the real bound is 1 GiB; the mechanism is the same
    folder = _mnist_tree(tmp_path)
    bomb = folder / "train-images-idx3-ubyte"
    bomb.unlink()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(200_000)))
    refused(["train", "--method", "ae", "--dataset", "mnist", "--normal-class", "1", "--out", tmp_path / "m",
             "--data-root", tmp_path, "--no-download"], capsys, "train-images-idx3-ubyte.gz", "decompresses to more than",
            unchanged=[folder])


@pytest.mark.parametrize("data, labels, message", [
    (np.zeros((4, 100), np.uint8), [0] * 4, "shape (n, 3072)"),
    ([[0] * 3072] * 4, [0] * 4, "found list"),
    (np.zeros((4, 3072), np.uint8), [0] * 5, "a list of 4 integers"),
])
def test_cifar_batches_of_the_wrong_size_are_refused(tmp_path, capsys, data, labels, message):
    from tests.unit.test_data import write_cifar_tree

    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    write_cifar_tree(folder, byte_keys=True)
    (folder / "data_batch_2").write_bytes(pickle.dumps({b"data": data, b"labels": labels}, protocol=2))
    refused(["train", "--method", "ae", "--dataset", "cifar10", "--normal-class", "1", "--out", tmp_path / "m",
             "--data-root", tmp_path, "--no-download"], capsys, "data_batch_2", message, unchanged=[folder])


# ------------------------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("extra, message", [
    (["--epochs", "0"], "epochs must be an integer >= 1, got 0"),
    (["--epochs", "-2"], "epochs must be an integer >= 1, got -2"),
    (["--set", "latent_dim=0"], "latent_dim must be an integer >= 1, got 0"),
    (["--set", "lr=fast"], "lr must be a finite number > 0, got 'fast'"),
    (["--set", "widths=[16,-1]"], "widths must be a list of 1 or more integers >= 1"),
    (["--set", "learning_rate=0.1"], "ae has no hyper-parameter 'learning_rate'; it has input_shape, widths"),
    (["--set", "patch_size=20"], "the one-vs-rest protocol has no option 'patch_size'; its options: val_normal, val_outliers"),
    (["--preset", "fast", "--set", "kernel=4"], "kernel must be an odd integer >= 1, got 4"),
    (["--seed", "-1"], "seed must be an integer in [0, 4294967295]"),
])
def test_bad_hyper_parameters_on_the_command_line(tmp_path, capsys, extra, message):
    refused(["train", "--method", "ae", "--dataset", "fashion-mnist-mini", "--normal-class", "0", "--out",
             tmp_path / "m", *extra], capsys, message)
    assert not (tmp_path / "m").exists()


def test_ocsvm_refuses_nu_of_one_before_training(tmp_path, capsys):
    """scikit-learn accepts nu = 1 and then fails with non-finite coefficients; we refuse it up front."""
    refused(["train", "--method", "ocsvm", "--dataset", "fashion-mnist-mini", "--normal-class", "0", "--out",
             tmp_path / "m", "--set", "nu=1"], capsys, "nu must be a finite number in (0, 1), got 1")
    assert not (tmp_path / "m").exists()


def test_bench_checks_every_method_before_any_cell_runs(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    refused(["bench", "--methods", "ae,vae", "--dataset", "fashion-mnist-mini", "--set", "epochs=0", "--out", out],
            capsys, "epochs must be an integer >= 1, got 0")
    code = main(["bench", "--methods", "ae,vae", "--dataset", "fashion-mnist-mini", "--set", "beta=-1", "--out", str(out)])
    out_text, err = capsys.readouterr()
    assert code == 2 and "ae has no hyper-parameter 'beta'" in err and "AUROC" not in out_text
    refused(["bench", "--methods", "vae,ae", "--dataset", "fashion-mnist-mini", "--classes", "0", "--epochs", "1",
             "--set", "beta=-1", "--out", out], capsys, "beta must be a finite number >= 0, got -1")
    refused(["bench", "--methods", "ae", "--dataset", "fashion-mnist-mini", "--workers", "0", "--out", out],
            capsys, "--workers must be an integer >= 1, got 0")
    assert not out.exists() or out.read_text() == ""


@pytest.mark.parametrize("extra, message", [
    (["--patch-size", "0"], "--patch-size must be an integer >= 1, got 0"),
    (["--patch-size", "-30"], "--patch-size must be an integer >= 1, got -30"),
    (["--stride", "0"], "--stride must be an integer >= 1, got 0"),
    (["--min-motion", "2"], "--min-motion must be a finite number in [0, 1], got 2.0"),
])
def test_bad_patch_settings(tmp_path, capsys, extra, message):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((40, 40), np.uint8)).save(frames / f"{i:03d}.png")
    refused(["train-video", "--method", "ocsvm", frames, "--out", tmp_path / "m", *extra], capsys, message,
            unchanged=[frames])


# ------------------------------------------------------------------------------------------- outputs


def test_outputs_are_checked_before_training(tmp_path, capsys, model):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    train = ["train", "--method", "ae", "--dataset", "fashion-mnist-mini", "--normal-class", "0", "--epochs", "1"]
    refused([*train, "--out", a_file / "model"], capsys, "--out", "cannot write there", unchanged=[a_file])
    refused([*train, "--out", a_file], capsys, "--out", "is a file", unchanged=[a_file])
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    refused([*train, "--out", mine], capsys, "holds other files (thesis.tex)", unchanged=[mine])
    results = tmp_path / "r.jsonl"
    assert main(["bench", "--methods", "ocsvm", "--dataset", "fashion-mnist-mini", "--classes", "0", "--out", str(results)]) == 0
    refused(["report", results, "--out", mine], capsys, "holds other files", unchanged=[mine, results])
    refused(["demo", "--methods", "ocsvm", "--out", mine], capsys, "holds other files", unchanged=[mine])


def test_an_existing_model_is_replaced_only_with_force(tmp_path, capsys, model_copy):
    train = ["train", "--method", "ae", "--dataset", "fashion-mnist-mini", "--normal-class", "0", "--epochs", "1",
             "--set", "widths=[4,8]", "--out", model_copy]
    refused(train, capsys, "already holds earlier output", "--force", unchanged=[model_copy])
    before = _hashes([model_copy])
    assert main([str(a) for a in [*train, "--force"]]) == 0
    assert _hashes([model_copy]) != before and oneclass.load(model_copy).epochs == 1


def test_saved_files_have_normal_permissions(model):
    umask = os.umask(0)
    os.umask(umask)
    for f in model.iterdir():
        assert f.stat().st_mode & 0o777 == 0o666 & ~umask, f.name


# ------------------------------------------------------------------------------------------- models


def test_nan_weights_are_refused(model_copy, tmp_path, capsys):
    weights = model_copy / "weights.safetensors"
    tensors = load_file(weights)
    name = next(k for k, t in tensors.items() if t.is_floating_point() and t.numel() > 1)
    tensors[name] = tensors[name].clone()
    tensors[name][0] = float("nan")
    save_file(tensors, weights)
    config = json.loads((model_copy / "config.json").read_text())
    config["weights_sha256"] = None  # as saved before format 3: the digest would refuse them first
    (model_copy / "config.json").write_text(json.dumps(config))
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    refused(["score", "--model", model_copy, image], capsys, "weights.safetensors", "NaN or infinite",
            unchanged=[model_copy, image])


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.pop("normalisation"), "field 'normalisation' must be a dict, found missing"),
    (lambda c: c.update(params="ae"), "field 'params' must be a dict, found a str"),
    (lambda c: c["params"].update(epochs="many"), "epochs must be an integer >= 1, got 'many'"),
    (lambda c: c.update(input_shape=[1, 100000, 100000]), "input_shape must be (channels, height, width)"),
    (lambda c: c.pop("input_shape"), "no input_shape"),
    (lambda c: c["normalisation"].update(range="wide"), "weights do not match method 'ae'"),
    (lambda c: c.update(method="nope"), "unknown method 'nope'"),
])
def test_damaged_config_files_are_refused_naming_the_file(model_copy, tmp_path, capsys, edit, message):
    config_file = model_copy / "config.json"
    config = json.loads(config_file.read_text())
    edit(config)
    config_file.write_text(json.dumps(config))
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    refused(["score", "--model", model_copy, image], capsys, str(model_copy), message, unchanged=[model_copy, image])


def test_damaged_video_settings_are_refused(tmp_path, capsys):
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(frames / f"{i:03d}.png")
    model = tmp_path / "m"
    assert main(["train-video", "--method", "ocsvm", str(frames), "--train-patches", "all", "--out", str(model)]) == 0
    capsys.readouterr()
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "settings": {**config["settings"], "stride": "25"}}))
    refused(["score-video", "--model", model, frames, "--out", tmp_path / "s"], capsys, "config.json",
            "patch settings unusable", unchanged=[model, frames])
    # a model of an older version: the patch detector in the folder itself, its stride in video.json beside it
    old = tmp_path / "old"
    old.mkdir()
    for name in ("config.json", "weights.safetensors"):
        (old / name).write_bytes((model / "detector" / name).read_bytes())
    (old / "video.json").write_text('{"stride": "25"}')
    refused(["score-video", "--model", old, frames, "--out", tmp_path / "s"], capsys, "video.json",
            "not the patch settings", unchanged=[old, frames])
    (old / "video.json").write_text('{"stride": 25}')
    assert main(["score-video", "--model", str(old), str(frames), "--smooth", "500", "--out", str(tmp_path / "s")]) == 0
    assert len((tmp_path / "s" / "frame_scores.csv").read_text().splitlines()) == 1 + 6  # one row per frame


# ------------------------------------------------------------------------------------------- environment


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_missing_gpu_is_a_clear_error(model, tmp_path, capsys):
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    refused(["score", "--model", model, "--device", "cuda", image], capsys, "device 'cuda'", "--device cpu")
    refused(["train", "--method", "ae", "--dataset", "fashion-mnist-mini", "--normal-class", "0", "--epochs", "1",
             "--set", "device=cuda", "--out", tmp_path / "m"], capsys, "device 'cuda'", "CUDA device")


def test_a_failing_file_system_is_one_line(tmp_path, capsys, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "m" / "weights.safetensors"))

    monkeypatch.setattr(oneclass.Detector, "save", full_disk)
    refused(["train", "--method", "ae", "--dataset", "fashion-mnist-mini", "--normal-class", "0", "--epochs", "1",
             "--set", "widths=[4,8]", "--out", tmp_path / "m"], capsys, "weights.safetensors: No space left on device")


def test_names_the_terminal_cannot_encode(model, tmp_path):
    """An ASCII-only terminal and a file name with other letters: the line is printed with escapes, no crash."""
    image = tmp_path / "straße-ñ.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LC_ALL": "C"}
    done = subprocess.run([sys.executable, "-m", "oneclass.cli", "score", "--model", str(model), str(image)],
                          capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert b"stra\\xdfe-\\xf1.png" in done.stdout and b"Traceback" not in done.stderr


# ------------------------------------------------------------------------------------------- beyond the list


@pytest.mark.parametrize("argv, message", [
    (["bench", "--methods", "ae", "--dataset", "fashion-mnist-mini", "--classes", "5-3"], "the range 5-3 runs backwards"),
    (["bench", "--methods", "ae", "--dataset", "fashion-mnist-mini", "--seeds", "-1"], "--seeds must be an integer >= 0"),
    (["bench", "--methods", "ae,", "--dataset", "fashion-mnist-mini"], "unknown method ''"),
    (["train", "--method", "ae", "--dataset", "fashion-mnist-mini", "--normal-class", "0", "--val-normal", "-5"],
     "cannot be negative"),
    (["bench", "--methods", "ae", "--dataset", "fashion-mnist-mini", "--set", "val_outliers=-1"], "cannot be negative"),
])
def test_careless_grid_and_split_options(tmp_path, capsys, argv, message):
    refused([*argv, "--out", tmp_path / "out"], capsys, message)
    assert not (tmp_path / "out").exists() or (tmp_path / "out").stat().st_size == 0


def test_nothing_is_written_or_printed_before_a_refusal(tmp_path, capsys):
    """A bad setting of one demo method is found before the data is read; a report of no usable lines makes no folder."""
    code = main(["demo", "--methods", "ae,vae", "--epochs", "0", "--out", str(tmp_path / "demo")])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "epochs must be an integer >= 1, got 0" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    refused(["report", empty, "--out", tmp_path / "rep"], capsys, "no usable result lines", unchanged=[empty])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.jsonl"]
