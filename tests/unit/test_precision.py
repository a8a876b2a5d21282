"""Training precision (bf16 autocast or fp32) and scoring precision."""

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import oneclass
from oneclass import runtime
from oneclass.cli import main
from oneclass.runtime import bf16_native, compute_dtype
from tests.contract.test_methods import FAST

#: scores of a model scored under bf16 autocast stay within this share of the largest fp32 score (measured on
#: these fixtures: ADA's CAM scores and OLED's `cont` 4-5 %, every other score under 0.5 %)
BF16_SCORE_TOLERANCE = 0.1


@pytest.mark.parametrize("flags, native", [({"avx512f", "avx512_bf16"}, True), ({"amx_tile", "amx_bf16"}, True),
                                           ({"avx2", "avx512f", "avx512bw"}, False)])
def test_auto_means_bf16_only_where_the_cpu_computes_it_natively(monkeypatch, flags, native):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset(flags))
    cpu = torch.device("cpu")
    assert bf16_native(cpu) is native
    assert compute_dtype("auto", cpu) == (torch.bfloat16 if native else torch.float32)
    assert compute_dtype("fp32", cpu) == torch.float32 and compute_dtype("bf16", cpu) == torch.bfloat16


@pytest.fixture(scope="module")
def trousers(mini):
    return mini["x_train"][mini["y_train"] == 1][:128], mini["x_test"][:200]


@pytest.mark.parametrize("method", oneclass.available())
def test_bf16_training_is_recorded_and_scores_do_not_depend_much_on_the_loading_precision(method, trousers, tmp_path):
    x, x_test = trousers
    det = oneclass.create(method, seed=0, precision="bf16", **FAST[method]).fit(x)
    assert det.fit_info_.get("precision", "fp32") == ("fp32" if method == "ocsvm" else "bf16")
    det.save(tmp_path / "m")
    own, fp32 = det.score(x_test), oneclass.load(tmp_path / "m").score(x_test)
    bf16 = oneclass.load(tmp_path / "m", precision="bf16").score(x_test)
    for name in det.score_names:
        np.testing.assert_allclose(fp32[name], own[name], rtol=1e-5, atol=1e-7, err_msg=name)  # scoring is fp32
        assert np.isfinite(bf16[name]).all()
        span = np.abs(fp32[name]).max()
        assert np.abs(bf16[name] - fp32[name]).max() <= BF16_SCORE_TOLERANCE * span + 1e-12, name


def test_the_command_line_trains_and_scores_in_the_precision_asked(tmp_path, capsys, mini):
    from PIL import Image

    out = tmp_path / "m"
    assert main(["train", "--method", "ae", "--dataset", "fashion-mnist-mini", "--normal-class", "1", "--epochs", "1",
                 "--precision", "bf16", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["precision"] == "bf16" and metrics["params"]["precision"] == "bf16"
    Image.fromarray(mini["x_test"][0]).save(tmp_path / "a.png")
    capsys.readouterr()
    assert main(["score", "--model", str(out), "--precision", "bf16", "--json", str(tmp_path / "a.png")]) == 0
    assert np.isfinite(json.loads(capsys.readouterr().out)["images"][0]["scores"]["rec"])


@pytest.mark.parametrize("flags, warns", [({"avx2"}, True), ({"avx2", "avx512_bf16"}, False)])
def test_bf16_where_the_cpu_emulates_it_is_said_before_training(monkeypatch, mini, flags, warns):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset(flags))
    det = oneclass.create("ae", epochs=1, widths=(4, 8), latent_dim=4, precision="bf16", device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        det.fit(mini["x_train"][:40])
    assert any("without native bf16" in str(w.message) for w in caught) == warns


def test_commands_log_a_line_per_epoch_off_a_terminal(mini, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, x in enumerate(mini["x_train"][:40]):
        Image.fromarray(x).save(folder / f"{i}.png")
    assert main(["train", "--method", "ae", "--images", str(folder), "--epochs", "2", "--out", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "ae epochs: epoch 1/2, loss" in out and "ae epochs: epoch 2/2, loss" in out
