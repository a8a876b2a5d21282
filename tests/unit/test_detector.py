import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import oneclass
from oneclass.bench.harness import harness
from oneclass.core import Scores, as_images, detector_class
from oneclass.errors import InputError, ModelFileError, NotFittedError, OneClassError
from oneclass.methods.ae import AE


def test_as_images_accepts_the_documented_layouts():
    gray = np.zeros((5, 28, 28), np.uint8)
    gray[:, 0, 0] = 255
    assert as_images(gray).shape == (5, 1, 28, 28)
    assert as_images(gray).max() == 1.0
    rgb = np.zeros((2, 32, 32, 3), np.uint8)
    assert as_images(rgb).shape == (2, 3, 32, 32)
    assert as_images(torch.rand(3, 1, 30, 30)).shape == (3, 1, 30, 30)
    assert as_images(np.random.rand(3, 30, 30).astype(np.float32)).shape == (3, 1, 30, 30)


def test_uint8_channels_last_keeps_pixel_order():
    rgb = np.random.default_rng(0).integers(0, 256, (2, 4, 5, 3), dtype=np.uint8)
    t = as_images(rgb)
    assert torch.equal((t * 255).round().to(torch.uint8), torch.from_numpy(rgb).permute(0, 3, 1, 2))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 28, 28), np.uint8), "no images"),
    (np.zeros((28, 28), np.uint8), "expected images of shape"),
    (np.zeros((2, 28, 28, 5), np.uint8), "C = 1 or 3"),
    (np.full((2, 1, 8, 8), np.nan, np.float32), "NaN"),
    (np.full((2, 1, 8, 8), 255.0, np.float32), "must lie in [0, 1]"),
    (np.zeros((2, 8, 8), np.int64), "dtype"),
    ([[1, 2]], "numpy array or torch tensor"),
])
def test_as_images_rejects_bad_input_with_one_line(bad, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        as_images(bad)
    assert "\n" not in str(info.value)


def test_scores_mapping_and_default():
    s = Scores({"a": np.array([1.0, 2.0]), "b": np.array([0.0, 0.0])}, default="a")
    assert list(s) == ["a", "b"] and len(s) == 2
    np.testing.assert_array_equal(s.default, [1.0, 2.0])
    with pytest.raises(KeyError):
        Scores({"a": np.zeros(2)}, default="z")


def test_registry_lists_baselines_and_rejects_unknown_names():
    assert {"ae", "cae", "vae", "dsvdd", "ocsvm"} <= set(oneclass.available())
    with pytest.raises(OneClassError, match="unknown method 'nope'"):
        oneclass.create("nope")
    with pytest.raises(OneClassError, match="unknown hyper-parameter.*learning_rate"):
        oneclass.create("ae", learning_rate=0.1)


@pytest.mark.parametrize("method", sorted(oneclass.available()))
def test_every_hyper_parameter_has_a_declared_rule(method):
    cls = detector_class(method)
    assert set(cls.param_names()) == set(cls.common_rules) | set(cls.param_rules)
    cls.check_params(cls.param_defaults())  # the defaults pass their own rules, and so does the paper preset
    for name, value in harness(method).presets.get("paper", {}).items():
        cls.check_params({name: value})


BAD_VALUES = [("epochs", 0, "epochs must be an integer >="), ("epochs", -3, "epochs must be an integer"),
              ("epochs", "ten", "epochs must be an integer"), ("epochs", 2.5, "epochs must be an integer"),
              ("latent_dim", 0, "latent_dim must be an integer >= 1"), ("batch_size", 0, "batch_size must be"),
              ("lr", -0.1, "lr must be a finite number > 0"), ("lr", float("nan"), "lr must be a finite number"),
              ("widths", [], "widths must be a list of"), ("widths", [8, 0], "widths must be a list of"),
              ("kernel", True, "kernel must be an odd integer"), ("seed", -1, "seed must be an integer in [0, 4294967295]"),
              ("device", "gpu", "device must be 'auto', 'cpu'"),
              ("input_shape", (1, 100000, 100000), "input_shape must be (channels, height, width)"),
              ("input_shape", (2, 28, 28), "input_shape must be"),
              ("nu", 0, {"dsvdd": "nu must be a finite number in (0, 1]", "ocsvm": "nu must be a finite number in (0, 1)"}),
              ("gamma", "fast", "gamma must be"), ("max_train", 0, "max_train must be")]


@pytest.mark.parametrize("method", sorted(oneclass.available()))
def test_bad_values_are_refused_at_creation_naming_the_parameter(method):
    known = detector_class(method).param_names()
    cases = [c for c in BAD_VALUES if c[0] in known]
    assert len(cases) >= 5
    for name, value, message in cases:
        message = message[method] if isinstance(message, dict) else message  # the same name, each method's rule
        with pytest.raises(InputError, match=re.escape(message)) as info:
            oneclass.create(method, **{name: value})
        assert "\n" not in str(info.value)


def test_values_changed_after_creation_are_checked_when_fitting(mini):
    det = oneclass.create("ae")
    det.epochs = 0
    with pytest.raises(InputError, match="epochs must be an integer >= 1"):
        det.fit(mini["x_train"][:8])


def test_a_device_that_is_not_there_is_refused_before_training(mini):
    import torch

    if torch.cuda.device_count() > 3:
        pytest.skip("this machine has four CUDA devices")
    with pytest.raises(InputError, match="'cuda:3': this machine has .* CUDA device"):
        oneclass.create("ae", device="cuda:3").fit(mini["x_train"][:8])


def test_parameters_are_stored_unchanged():
    det = oneclass.create("ae", latent_dim=7, epochs=3)
    assert det.get_params()["latent_dim"] == 7 and det.epochs == 3
    assert "latent_dim=7" in repr(det)


def test_fit_checks_shapes_and_val(mini):
    x = mini["x_train"][:20]
    det = oneclass.create("ocsvm", input_shape=(1, 32, 32))
    with pytest.raises(InputError, match="input_shape"):
        det.fit(x)
    det = oneclass.create("ocsvm").fit(x)
    with pytest.raises(InputError, match="expects"):
        det.score(np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(InputError, match="labels"):
        oneclass.create("ae", epochs=1).fit(x, val=(x[:4], np.array([0, 1, 2, 0])))


def test_score_before_fit_is_a_clear_error():
    with pytest.raises(OneClassError, match="call fit"):
        oneclass.create("ae").score(np.zeros((1, 28, 28), np.uint8))


@pytest.fixture(scope="module")
def saved(tmp_path_factory, mini):
    path = tmp_path_factory.mktemp("model") / "ocsvm"
    oneclass.create("ocsvm").fit(mini["x_train"][:50]).save(path)
    return path


def test_load_refuses_directories_it_did_not_write(tmp_path, saved):
    with pytest.raises(ModelFileError, match="no such model directory"):
        oneclass.load(tmp_path / "absent")
    with pytest.raises(ModelFileError, match="missing config.json"):
        oneclass.load(tmp_path)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text(json.dumps({"model": "resnet"}))
    (foreign / "weights.safetensors").write_bytes((saved / "weights.safetensors").read_bytes())
    with pytest.raises(ModelFileError, match="not a oneclass model file"):
        oneclass.load(foreign)
    (foreign / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        oneclass.load(foreign)


def without_digest(folder: Path) -> None:
    """Drop the weights' digest from a saved config, as in a model saved before format 3, so that the checks behind
    it are reached."""
    config = json.loads((folder / "config.json").read_text())
    config["weights_sha256"] = None
    (folder / "config.json").write_text(json.dumps(config))


def test_load_refuses_weights_that_are_not_the_ones_saved_with_the_config(tmp_path, saved, mini):
    other = oneclass.create("ocsvm").fit(mini["x_train"][:40]).save(tmp_path / "other")
    (other / "weights.safetensors").write_bytes((saved / "weights.safetensors").read_bytes())
    with pytest.raises(ModelFileError, match="not the weights config.json was saved with"):
        oneclass.load(other)


def test_load_refuses_a_pickle_in_place_of_weights(tmp_path, saved):
    import pickle

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((saved / "config.json").read_text())
    (bad / "weights.safetensors").write_bytes(pickle.dumps({"support_vectors": [1, 2, 3]}))
    with pytest.raises(ModelFileError, match="SHA-256 differs"):
        oneclass.load(bad)
    without_digest(bad)
    with pytest.raises(ModelFileError, match="unreadable safetensors"):
        oneclass.load(bad)


def test_load_refuses_weights_of_another_method(tmp_path, saved, mini):
    ae_dir = oneclass.create("ae", epochs=1).fit(mini["x_train"][:16]).save(tmp_path / "ae")
    (ae_dir / "weights.safetensors").write_bytes((saved / "weights.safetensors").read_bytes())
    without_digest(ae_dir)
    with pytest.raises(ModelFileError, match="do not match method 'ae'"):
        oneclass.load(ae_dir)


def test_importing_the_package_loads_no_torch_and_no_method():
    """`import oneclass`, `oneclass.data` and the CLI module stay light (`oneclass --help` pays for nothing else);
    a method's module is imported when it is first asked for."""
    import subprocess
    import sys

    code = ("import sys, oneclass, oneclass.data, oneclass.cli; oneclass.cli.build_parser().format_help(); "
            "assert 'torch' not in sys.modules, 'torch'; "
            "assert not [m for m in sys.modules if m.startswith('oneclass.methods.')], 'methods'; "
            "assert oneclass.available()[0] == 'ada'; "
            "oneclass.create('ae'); assert 'oneclass.methods.ae' in sys.modules and 'oneclass.methods.ada' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("method", oneclass.available())
def test_hyper_parameters_are_keyword_only(method):
    cls = detector_class(method)
    with pytest.raises(TypeError):
        cls((1, 28, 28))
    assert cls(input_shape=(1, 28, 28)).input_shape == (1, 28, 28)


def test_network_shape_state_is_saved_apart_from_the_fit_summary(tmp_path, mini):
    """What decides a network's shape (G2D's kept generators, ADA's second discriminator) is a learned attribute,
    saved in config.json's "state": a model still loads when its fit summary is emptied."""
    x = mini["x_train"][mini["y_train"] == 1][:64]
    det = oneclass.create("g2d", epochs=3, h=1, widths=(8, 8, 16), detector_epochs=1).fit(x)
    det.save(tmp_path / "g2d")
    config = json.loads((tmp_path / "g2d" / "config.json").read_text())
    assert config["state"] == {"selected_epochs_": det.selected_epochs_}
    config["fit_info"] = {"gan_epochs": 3}
    (tmp_path / "g2d" / "config.json").write_text(json.dumps(config))
    again = oneclass.load(tmp_path / "g2d")
    np.testing.assert_allclose(again.score(x[:8]).default, det.score(x[:8]).default, rtol=1e-6)


def test_fit_keeps_input_shape_as_given_and_records_the_fitted_one(mini):
    det = oneclass.create("ocsvm")
    det.fit(mini["x_train"][:40])
    assert det.input_shape is None and det.input_shape_ == (1, 28, 28) and det.get_params()["input_shape"] is None


def test_set_params_checks_and_clone_copies_unfitted(mini):
    det = oneclass.create("ae", latent_dim=8)
    assert det.set_params(epochs=2) is det and det.epochs == 2
    with pytest.raises(InputError, match="epochs must be"):
        det.set_params(epochs=0)
    with pytest.raises(InputError, match="unknown hyper-parameter"):
        det.set_params(latent=3)
    det = oneclass.create("ocsvm", nu=0.2).fit(mini["x_train"][:40])
    copy = oneclass.clone(det)
    assert copy.get_params() == det.get_params() and not copy.fitted and det.fitted


def test_decision_function_is_the_default_score(mini):
    det = oneclass.create("ocsvm").fit(mini["x_train"][:40])
    x = mini["x_test"][:10]
    np.testing.assert_array_equal(det.decision_function(x), det.score(x).default)


def test_scoring_or_saving_before_fit_raises_not_fitted(tmp_path):
    det = oneclass.create("ae")
    for call in (lambda: det.score(np.zeros((1, 28, 28), np.uint8)), lambda: det.save(tmp_path / "m"),
                 lambda: det.predict(np.zeros((1, 28, 28), np.uint8))):
        with pytest.raises(NotFittedError, match="call fit"):
            call()
    assert not (tmp_path / "m").exists()


def test_fit_leaves_the_callers_random_streams_as_they_were(mini):
    torch.manual_seed(123)
    np.random.seed(123)
    expected = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(123)
    oneclass.create("ae", epochs=1, widths=(4, 8), latent_dim=4).fit(mini["x_train"][:40])
    np.testing.assert_array_equal(torch.rand(3), expected[0])
    np.testing.assert_array_equal(np.random.rand(3), expected[1])


def test_a_model_of_format_1_loads_with_its_input_shape_in_params(tmp_path, saved, mini):
    """Format 1 kept the fitted input shape in params; migration step 1 moves it, and the model scores as saved."""
    old = tmp_path / "old"
    old.mkdir()
    config = json.loads((saved / "config.json").read_text())
    config["format_version"] = 1
    config["params"]["input_shape"] = config.pop("input_shape")
    (old / "config.json").write_text(json.dumps(config))
    (old / "weights.safetensors").write_bytes((saved / "weights.safetensors").read_bytes())
    x = mini["x_test"][:5]
    np.testing.assert_array_equal(oneclass.load(old).score(x).default, oneclass.load(saved).score(x).default)
    assert oneclass.load(old).input_shape_ == (1, 28, 28)


class TinyAE(AE):
    """A method from "another package": found through its entry point, like the built-in ones."""

    name = "tiny_ae"


def test_a_method_of_another_package_is_found_through_its_entry_point(monkeypatch, tmp_path, mini):
    from oneclass import registry

    entries = {**registry._entries(), "tiny_ae": "tests.unit.test_detector:TinyAE"}
    monkeypatch.setattr(registry, "_entries", lambda: entries)
    assert "tiny_ae" in oneclass.available() and registry.is_method("tiny_ae")
    det = oneclass.create("tiny_ae", epochs=1, widths=(4, 8), latent_dim=4).fit(mini["x_train"][:40])
    back = oneclass.load(det.save(tmp_path / "m"))
    assert type(back) is TinyAE
    np.testing.assert_array_equal(back.score(mini["x_test"][:5]).default, det.score(mini["x_test"][:5]).default)
    entries["tiny_ae"] = "tests.unit.test_detector:TinyAEWithAnotherName"
    with pytest.raises(OneClassError, match="names a class"):
        oneclass.create("tiny_ae")


class TinyAEWithAnotherName(AE):
    name = "not_tiny_ae"


def test_the_expected_false_positive_range_matches_a_simulation():
    """A threshold at the 95 % point of n uniform normal scores: the rate at which new normals exceed it."""
    from oneclass.core import Decision

    rng = np.random.default_rng(0)
    for n in (25, 200):
        rates = [1 - np.quantile(rng.random(n), 0.95, method="higher") for _ in range(4000)]
        lo, hi = Decision(threshold=1.0, low=0.0, fpr=0.05, n=n).fpr_interval()
        assert np.quantile(rates, 0.05) == pytest.approx(lo, abs=0.006)
        assert np.quantile(rates, 0.95) == pytest.approx(hi, abs=0.012)
    assert Decision(threshold=1.0, low=0.0).fpr_interval() is None  # older models: n and fpr unknown


@pytest.mark.parametrize("fpr, within", [(0.05, 0.5), (0.01, 0.5), (0.05, 0.2)])
def test_normals_needed_is_where_the_range_stays_within_the_bounds(fpr, within):
    from oneclass.core import Decision

    n = Decision.normals_needed(fpr, within)
    for m in (n, n + 1, n + 37, 2 * n):
        lo, hi = Decision(threshold=1.0, low=0.0, fpr=fpr, n=m).fpr_interval()
        assert fpr * (1 - within) <= lo and hi <= fpr * (1 + within)
    lo, hi = Decision(threshold=1.0, low=0.0, fpr=fpr, n=n - 1).fpr_interval()
    assert lo < fpr * (1 - within) or hi > fpr * (1 + within)
    assert Decision.normals_needed(0.001, within=0.05, most=1000) is None


def test_calibrate_sets_the_threshold_again_without_refitting(mini):
    x = mini["x_train"][mini["y_train"] == 1]
    det = oneclass.create("ocsvm").fit(x[:100])
    weights = det.support_vectors_.clone()
    normals = mini["x_test"][mini["y_test"] == 1]
    det.calibrate(normals, fpr=0.1)
    d = det.decision_
    assert (d.source, d.n, d.fpr, det.threshold_fpr) == ("calibrate", len(normals), 0.1, 0.1)
    assert det.predict(normals).mean() <= 0.1 and torch.equal(det.support_vectors_, weights)
    with pytest.raises(InputError, match="threshold_fpr must be"):
        det.calibrate(normals, fpr=1.5)
    with pytest.raises(NotFittedError):
        oneclass.create("ocsvm").calibrate(normals)
    with pytest.raises(OneClassError, match="scaled over the images scored together"):
        oneclass.create("oled", epochs=1, widths=(8, 8, 8), mask_widths=(4, 4), kernel=3,
                        score_scaling="scored-set").fit(x[:40]).calibrate(normals)


def test_the_defaults_are_the_fast_preset_and_the_paper_preset_is_the_papers():
    """`create(name)` gives our CPU budget; `preset="paper"` the paper's network and schedule, with params on top;
    the paper preset of each method changes only values that differ from the defaults."""
    assert oneclass.create("oled").get_params() == oneclass.create("oled", preset="fast").get_params()
    paper = oneclass.create("oled", preset="paper", seed=3)
    assert (paper.epochs, paper.widths, paper.kernel, paper.seed) == (300, (64, 96, 128), 5, 3)
    assert oneclass.create("dsvdd", preset="paper", epochs=2).get_params()["ae_epochs"] == 150
    for method in oneclass.available():
        defaults = detector_class(method).param_defaults()
        assert all(defaults[k] != v for k, v in harness(method).presets.get("paper", {}).items())
    with pytest.raises(InputError, match="preset 'slow': expected one of paper, fast"):
        oneclass.create("ae", preset="slow")
