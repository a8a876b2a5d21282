"""ONNX export: every method whose score is a forward computation exports, and onnxruntime's scores, maps and
decisions match the PyTorch model's on real images; the others refuse with one line."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import oneclass
from oneclass.cli import main
from oneclass.errors import InputError
from tests.integration.test_bad_inputs import refused

pytest.importorskip("onnxruntime")
from oneclass.export import OnnxModel, export_onnx  # noqa: E402
from oneclass.testing import unlike_training  # noqa: E402

SMALL = {
    "ae": {"epochs": 2}, "cae": {"epochs": 2}, "vae": {"epochs": 2}, "dsvdd": {"epochs": 2, "ae_epochs": 2},
    "adacl": {"epochs": 2, "batch_size": 32},
    "oled": {"epochs": 2, "widths": (16, 16, 16), "mask_widths": (8, 8), "kernel": 3},
    "alocc": {"epochs": 2, "widths": (8, 8, 16, 16)},
    "g2d": {"epochs": 3, "h": 1, "widths": (8, 8, 16), "detector_epochs": 1},
    "knn_geom": {"epochs": 1, "widths": (8, 8, 16)},
}


@pytest.fixture(scope="module")
def trousers(mini):
    return mini["x_train"][mini["y_train"] == 1]


def test_oled_exports_the_masks_it_scores_with_where_activations_tie(trousers, mini, tmp_path):
    """After one epoch at the fast preset's widths, MG's activations are all zero (ReLU): every pixel ties at the
    threshold, and which ones are hidden must not be left to TopK, which breaks ties differently in PyTorch and
    ONNX (it did: `avg` -0.092 vs -0.036 on one noise image)."""
    det = oneclass.create("oled", epochs=1, widths=(32, 48, 64), kernel=3, device="cpu").fit(trousers)
    x = np.concatenate([mini["x_test"][:50], unlike_training(mini["x_test"])["noise"]])
    activations = det.net_.mask_generator(det.network_input(x)).flatten(1)
    assert (activations == 0).all(1).any()  # the case this test is for
    exported = OnnxModel(export_onnx(det, tmp_path / "oled.onnx"))
    ours = det.score(x).default
    np.testing.assert_allclose(exported.score(x).default, ours, rtol=1e-4, atol=1e-5 * np.abs(ours).max())


@pytest.mark.parametrize("method", sorted(SMALL))
def test_exported_scores_maps_and_decisions_match_pytorch(method, trousers, mini, tmp_path):
    det = oneclass.create(method, **SMALL[method], device="cpu").fit(trousers)
    path = export_onnx(det, tmp_path / f"{method}.onnx")
    exported = OnnxModel(path)
    sets = {"real": mini["x_test"][:300], **unlike_training(mini["x_test"])}  # real: Fashion-MNIST of every class
    for kind, x in sets.items():
        ours, theirs = det.score(x).default, exported.score(x).default
        # 1e-4 relative; scores near 0 (OLED's scaled avg can be) within float32 noise of the largest
        np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-5 * np.abs(ours).max(), err_msg=kind)
        if det.has_anomaly_maps:
            maps = det.anomaly_maps(x)
            np.testing.assert_allclose(exported.anomaly_maps(x), maps, rtol=1e-4, atol=1e-5 * np.abs(maps).max(),
                                       err_msg=kind)
    x = sets["real"]
    assert exported.has_anomaly_maps == det.has_anomaly_maps
    assert exported.decision_ == det.decision_
    np.testing.assert_array_equal(exported.predict(x), det.predict(x))
    assert (exported.name, exported.default_score, exported.input_shape_) == (det.name, det.default_score, (1, 28, 28))


@pytest.mark.parametrize("method, params, reason", [
    ("ada", {"epochs": 1, "widths": (8, 8, 16), "discriminator_widths": (8, 8, 16, 16, 16), "latent_dim": 8,
             "kernel": 3}, "need gradients"),
    ("ocsvm", {}, "scikit-learn"),
    ("oled", {**SMALL["oled"], "epochs": 1, "score_scaling": "scored-set"}, "score_scaling='fit'"),
])
def test_methods_whose_score_is_not_a_forward_pass_refuse(method, params, reason, trousers, tmp_path):
    det = oneclass.create(method, **params, device="cpu").fit(trousers[:96])
    with pytest.raises(InputError, match=reason):
        export_onnx(det, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


@pytest.fixture(scope="module")
def saved_ae(trousers, tmp_path_factory):
    return oneclass.create("ae", epochs=2, device="cpu").fit(trousers).save(tmp_path_factory.mktemp("ae") / "ae")


def test_export_and_score_from_the_command_line(saved_ae, mini, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "ae.onnx"
    assert main(["export", "--model", str(saved_ae), "--format", "onnx", "--out", str(out)]) == 0
    assert "exported" in capsys.readouterr().out
    folder = tmp_path / "images"
    folder.mkdir()
    for i, img in enumerate(mini["x_test"][:4]):
        Image.fromarray(img).save(folder / f"{i}.png")
    assert main(["score", "--model", str(out), str(folder), "--json"]) == 0
    onnx_doc = json.loads(capsys.readouterr().out)
    assert main(["score", "--model", str(saved_ae), str(folder), "--json"]) == 0
    torch_doc = json.loads(capsys.readouterr().out)
    assert onnx_doc["decision"] == torch_doc["decision"] and onnx_doc["method"] == "ae"
    for a, b in zip(onnx_doc["images"], torch_doc["images"], strict=True):
        assert a["name"] == b["name"] and a["anomalous"] == b["anomalous"]
        assert a["scores"]["rec"] == pytest.approx(b["scores"]["rec"], rel=1e-4)
    assert main(["score", "--model", str(out), str(folder), "--heatmaps", str(tmp_path / "maps")]) == 0
    assert sorted(p.name for p in (tmp_path / "maps").glob("*.png")) == ["0.png", "1.png", "2.png", "3.png", "colour-scale.png"]


def test_export_refuses_to_overwrite_and_bad_onnx_files_are_one_line_errors(saved_ae, tmp_path, capsys, mini):
    mine = tmp_path / "mine.onnx"
    mine.write_bytes(b"my own file")
    refused(["export", "--model", saved_ae, "--out", mine], capsys, "--out", "exists", unchanged=[mine, saved_ae])
    refused(["export", "--model", saved_ae, "--out", tmp_path / "model.bin"], capsys, "FILE.onnx")
    from PIL import Image

    Image.fromarray(mini["x_test"][0]).save(tmp_path / "a.png")
    refused(["score", "--model", mine, tmp_path / "a.png"], capsys, "mine.onnx", "onnxruntime cannot read it",
            unchanged=[mine])
    refused(["score", "--model", tmp_path / "none.onnx", tmp_path / "a.png"], capsys, "no such file")


def retouched(source, target, **fields):
    """A copy of an exported file with metadata fields replaced (a value None removes the field)."""
    import onnx

    model = onnx.load(str(source))
    kept = [(e.key, e.value) for e in model.metadata_props]
    del model.metadata_props[:]
    for key, value in kept:
        name = key.removeprefix("oneclass.")
        if name in fields:
            value = fields.pop(name)
            if value is None:
                continue
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(target))
    return target


@pytest.fixture(scope="module")
def exported_ae(saved_ae, tmp_path_factory):
    return export_onnx(oneclass.load(saved_ae), tmp_path_factory.mktemp("onnx") / "ae.onnx")


@pytest.mark.parametrize("fields, message", [
    ({"decision": '{"threshold": "high", "low": 0}'}, "must hold finite numbers 'threshold' and 'low'"),
    ({"decision": '{"threshold": NaN, "low": 0}'}, "must hold finite numbers 'threshold' and 'low'"),
    ({"decision": "[1, 2]"}, "must hold finite numbers"),
    ({"decision": '{"threshold": 1, "low": 0, "fpr": 5}'}, "'fpr' as a number between 0 and 1"),
    ({"decision": '{"threshold": 1, "low": 0, "score": "elbo"}'}, "applies to score 'elbo'"),
    ({"input_shape": "[1, 100000, 100000]"}, "sides of 1 to"),
    ({"input_shape": "[1, 32, 32]"}, "the graph's input"),
    ({"input_shape": '{"c": 1}'}, "'oneclass.input_shape'"),
    ({"outputs": '["score", "map", "extra"]'}, "'oneclass.outputs' must be"),
    ({"outputs": '["score"]'}, "the graph's outputs ['score', 'map']"),
    ({"method": '"nope"'}, "names no method"),
    ({"method": "[1]"}, "'oneclass.method' must be a string"),
    ({"default_score": '"elbo"'}, "is not a score of ae"),
    ({"decision": "{not json"}, "'oneclass.decision' is not JSON"),
    ({"graph_sha256": '"' + "0" * 64 + '"'}, "does not match the graph"),
    ({"graph_sha256": None}, "exported by an older oneclass"),
])
def test_tampered_onnx_metadata_is_refused_naming_the_field(exported_ae, tmp_path, fields, message):
    from oneclass.errors import ModelFileError

    with pytest.raises(ModelFileError, match=re.escape(message)):
        OnnxModel(retouched(exported_ae, tmp_path / "t.onnx", **fields))


def test_another_models_graph_with_copied_metadata_is_refused(exported_ae, trousers, tmp_path, capsys, mini):
    """Two models of one method and shape: the second's graph under the first's metadata is not the first model."""
    import onnx
    from PIL import Image

    other = export_onnx(oneclass.create("ae", epochs=1, seed=7).fit(trousers[:40]), tmp_path / "other.onnx")
    first, swapped = onnx.load(str(exported_ae)), onnx.load(str(other))
    del swapped.metadata_props[:]
    swapped.metadata_props.extend(first.metadata_props)
    onnx.save(swapped, str(tmp_path / "swapped.onnx"))
    Image.fromarray(mini["x_test"][0]).save(tmp_path / "a.png")
    refused(["score", "--model", tmp_path / "swapped.onnx", tmp_path / "a.png"], capsys, "swapped.onnx",
            "does not match the graph", unchanged=[tmp_path / "swapped.onnx"])
    OnnxModel(exported_ae)  # the untouched file loads
