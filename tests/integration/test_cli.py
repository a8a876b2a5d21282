"""The command line, called in-process through `main(argv)`."""

import json

import numpy as np
import pytest
from PIL import Image

import oneclass
from oneclass.cli import main


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ae"
    assert main(["train", "--method", "ae", "--dataset", "fashion-mnist-mini", "--normal-class", "1", "--epochs", "2",
                 "--out", str(out)]) == 0
    return out


def test_train_writes_model_and_metrics(trained, mini):
    """metrics.json holds the test AUROC of the model saved beside it: loading it and scoring the same test split
    gives the same number."""
    import oneclass
    from oneclass.data.protocols import one_vs_rest
    from oneclass.metrics import auroc

    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["method"] == "ae" and metrics["n_train"] == 250 and metrics["n_test"] == 1000
    assert metrics["params"]["epochs"] == 2
    split = one_vs_rest(mini, normal_class=1)
    again = auroc(split.y_test, oneclass.load(trained).score(split.x_test)["rec"])
    assert metrics["auroc"]["rec"] == pytest.approx(again, abs=5e-6)  # the result line rounds to 5 decimals


def test_score_folder_lines_and_json(trained, tmp_path, mini, capsys):
    for sub, images in [("normal", mini["x_test"][mini["y_test"] == 1][:3]), ("abnormal", mini["x_test"][:2])]:
        (tmp_path / sub).mkdir()
        for i, img in enumerate(images):
            Image.fromarray(img).resize((56, 56)).convert("RGB").save(tmp_path / sub / f"{i}.png")
    code, out, _ = run(["score", "--model", str(trained), str(tmp_path)], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 8 and "rec=" in lines[0] and lines[-1].startswith("AUROC")
    assert lines[-3].startswith("threshold rec >") and all("normalised=" in line for line in lines[:5])
    assert all(line.endswith("(resized from 56×56, colour to grey)") for line in lines[:5])  # said per image
    assert lines[-2].startswith("5 of 5 images were resized or converted to the model's input (28×28, grey)")
    code, out, _ = run(["score", "--model", str(trained), "--json", str(tmp_path / "normal" / "0.png")], capsys)
    doc = json.loads(out)
    assert doc["method"] == "ae" and len(doc["images"]) == 1 and np.isfinite(doc["images"][0]["scores"]["rec"])


def one_line_error(code, err, *fragments):
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for f in fragments:
        assert f in err


def test_wrong_normal_class(capsys):
    code, _, err = run(["train", "--method", "ae", "--dataset", "fashion-mnist-mini", "--normal-class", "12",
                        "--out", "/tmp/unused"], capsys)
    one_line_error(code, err, "--normal-class 12", "0-9")


def test_missing_data_root(tmp_path, capsys):
    code, _, err = run(["train", "--method", "ae", "--dataset", "mnist", "--normal-class", "1", "--out", str(tmp_path / "m"),
                        "--data-root", str(tmp_path / "absent")], capsys)
    one_line_error(code, err, "--data-root", "absent", "no such directory")


def test_truncated_idx(tmp_path, capsys):
    from tests.unit.test_data import write_mnist_tree

    write_mnist_tree(tmp_path / "mnist", gz=False)
    victim = tmp_path / "mnist" / "train-images-idx3-ubyte"
    victim.write_bytes(victim.read_bytes()[:-10])
    code, _, err = run(["train", "--method", "ae", "--dataset", "mnist", "--normal-class", "1", "--out", str(tmp_path / "m"),
                        "--data-root", str(tmp_path), "--no-download"], capsys)
    one_line_error(code, err, "train-images-idx3-ubyte", "truncated")


def test_corrupt_png(trained, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(bad)
    bad.write_bytes(bad.read_bytes()[:40])
    code, _, err = run(["score", "--model", str(trained), str(bad)], capsys)
    one_line_error(code, err, "bad.png", "not a readable image")


def test_not_a_model(tmp_path, capsys):
    code, _, err = run(["score", "--model", str(tmp_path), str(tmp_path)], capsys)
    one_line_error(code, err, "missing config.json")


def test_bad_hyper_parameter(capsys):
    code, _, err = run(["train", "--method", "ae", "--dataset", "fashion-mnist-mini", "--normal-class", "0",
                        "--out", "/tmp/unused", "--set", "lr"], capsys)
    one_line_error(code, err, "--set 'lr'", "KEY=VALUE")


def test_data_list_and_verify(capsys, shared_data):
    code, out, _ = run(["data", "list", "--data-root", str(shared_data)], capsys)
    assert code == 0 and "fashion-mnist" in out and "fashion-mnist-mini" in out
    code, out, _ = run(["data", "verify", "fashion-mnist", "--data-root", str(shared_data)], capsys)
    assert code == 0 and out.count(" ok ") == 4


def test_help_everywhere(capsys):
    for cmd in (["--help"], ["demo", "--help"], ["train", "--help"], ["score", "--help"], ["data", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(cmd)
        assert info.value.code == 0
        assert "usage: oneclass" in capsys.readouterr().out


def test_demo_runs_and_writes_the_report(tmp_path, capsys):
    code, out, _ = run(["demo", "--methods", "ae,ocsvm", "--epochs", "1", "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and "ae" in out and "ocsvm" in out
    html = (tmp_path / "r" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    assert (tmp_path / "r" / "report.md").is_file()


def test_the_default_demo_shows_adacl_and_oled_with_masks_and_decisions(tmp_path, capsys):
    code, out, _ = run(["demo", "--methods", "adacl,oled,ae", "--epochs", "1", "--out", str(tmp_path / "r")], capsys)
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()[:1] in (["adacl"], ["oled"], ["ae"])}
    assert " / " in rows["adacl"] and " / " in rows["ae"]  # FPR / TPR at the threshold
    md = (tmp_path / "r" / "report.md").read_text()
    assert "OLED's masks" in md and "false-positive rate" in md
    saved = tmp_path / "r" / "models"
    assert oneclass.load(saved / "adacl").decision_.source == "held-out"
    assert f"oneclass serve --model {saved / 'adacl'} --model {saved / 'oled'} --model {saved / 'ae'}" in out
    from oneclass.cli import DEMO_METHODS

    assert DEMO_METHODS[:3] == ("knn_geom", "adacl", "oled")  # the recommended detector first, then the papers


def test_train_takes_protocol_options_preset_and_device_like_bench(tmp_path, capsys):
    """`--set` reaches the protocol too (here: 50 normal images held out for model selection), and `--preset` and
    `--device` mean what they mean for `bench`; metrics.json is the result line `bench` would write."""
    out = tmp_path / "m"
    code, _, _ = run(["train", "--method", "ae", "--dataset", "fashion-mnist-mini", "--normal-class", "1", "--epochs", "1",
                      "--set", "val_normal=50", "--preset", "fast", "--device", "cpu", "--out", str(out)], capsys)
    metrics = json.loads((out / "metrics.json").read_text())
    assert code == 0 and metrics["n_train"] == 200 and metrics["n_val"] == 50 and metrics["selection"] == "val-normal"
    assert metrics["params"]["device"] == "cpu" and metrics["preset"] == "fast" and len(metrics["val_history"]) == 1
