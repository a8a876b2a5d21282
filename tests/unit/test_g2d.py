"""G2D: the generator selection rule, the networks, the WGAN-GP update order, D's training set, scores, snapshots."""

import numpy as np
import pytest
import torch

import oneclass
from oneclass.errors import InputError
from oneclass.methods.g2d import G2D, G2DNetworks, Generator, TransposedGenerator, code_curve, select_generators

# "cpu": these tests call the networks with CPU tensors to check the maths
TINY = {"widths": (8, 8, 16), "epochs": 4, "h": 1, "detector_epochs": 1, "batch_size": 16, "device": "cpu"}


def _curve() -> list[float]:
    """A WGAN-GP-like loss: rises while the critic learns (epochs 1-5), falls fast, then ever more slowly, then flat."""
    rise = [0.0, 4.0, 8.0, 12.0, 16.0]
    fall = [16.0 * 0.8 ** i for i in range(1, 21)]
    return rise + fall + [fall[-1]] * 10


def test_selection_bands_follow_the_loss_differences():
    losses, h = _curve(), 5
    chosen = select_generators(losses, h, 0.5, 0.1, 0.01, k=100)
    diffs = np.array(chosen["differences"])
    assert len(diffs) == len(losses) - h
    np.testing.assert_allclose(diffs, [losses[i] - losses[i + h] for i in range(len(losses) - h)], atol=1e-6)
    rel = diffs / np.abs(diffs).max()
    epochs = np.arange(1, len(diffs) + 1)
    assert chosen["far"] == list(epochs[np.abs(rel) >= 0.5])
    assert chosen["boundary"] == list(epochs[(rel >= 0.01) & (rel < 0.1)])
    assert chosen["far"][0] == 1  # the rising start counts as far: its generators are barely trained
    assert all(e > 5 for e in chosen["boundary"])  # where the curve turns, |L| is small but I is not converged
    assert max(chosen["far"] + chosen["boundary"]) <= len(losses) - h  # the last h epochs have no L
    converged = epochs[np.abs(rel) < 0.01]
    assert len(converged) and not set(converged) & set(chosen["far"] + chosen["boundary"])


def test_selection_keeps_at_most_k_half_far_half_boundary_spread_out():
    losses = _curve()
    every = select_generators(losses, 5, 0.5, 0.1, 0.01, k=100)
    four = select_generators(losses, 5, 0.5, 0.1, 0.01, k=4)
    assert len(four["far"]) == 2 and len(four["boundary"]) == 2
    for band in ("far", "boundary"):
        assert set(four[band]) <= set(every[band])
        assert four[band][0] == every[band][0] and four[band][-1] == every[band][-1]
    # one band fills what the other lacks
    no_boundary = select_generators(losses, 5, 0.5, 2e-9, 1e-9, k=4)
    assert no_boundary["boundary"] == []
    assert len(no_boundary["far"]) == min(4, len(every["far"]))


def test_a_flat_loss_selects_nothing_and_fit_says_why(monkeypatch, mini):
    assert select_generators([1.0] * 10, 5, 0.5, 0.1, 0.01, 10) == {"differences": [0.0] * 5, "far": [], "boundary": []}
    monkeypatch.setattr(G2D, "_train_gan", lambda self, x, gen: ([{}] * self.epochs, [1.0] * self.epochs))
    with pytest.raises(InputError, match="no generator qualified"):
        oneclass.create("g2d", **TINY).fit(mini["x_train"][:16])


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 30, 30), (3, 32, 32), (3, 64, 64)])
def test_networks_fit_every_input_size(shape):
    nets = G2DNetworks(shape, (64, 128, 256), 100, [2, 7])
    z = torch.randn(3, 100) * 50  # large inputs: the output must still be clipped to [-1, 1]
    fake = nets.generator(z)
    assert fake.shape == (3, *shape) and fake.abs().max() <= 1.0 and (fake.abs() == 1.0).any()
    assert nets.critic(fake).shape == (3, 1) and nets.detector(fake).shape == (3, 2)
    assert set(nets.snapshots) == {"2", "7"}
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in nets.critic.modules())  # per-sample penalty
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in nets.detector.modules())


def test_generator_clip_lets_gradients_through():
    """Straight-through clipping: a pixel pushed past the bound still gets a gradient and can come back."""
    g = Generator((1, 28, 28), (8, 8, 16), 10)
    out = g(torch.randn(2, 10) * 100)
    out.sum().backward()
    assert g.decoder.out[1].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 30, 30), (3, 32, 32), (1, 84, 84)])
def test_the_authors_networks_fit_every_input_size(shape):
    """networks="code": a transposed-convolution generator with tanh and a critic with InstanceNorm (per sample,
    so the gradient penalty stays per sample); the detector is the same as ours."""
    nets = G2DNetworks(shape, (16, 32, 64), 100, [3], networks="code")
    assert isinstance(nets.generator, TransposedGenerator) and isinstance(nets.snapshots["3"], TransposedGenerator)
    fake = nets.generator(torch.randn(3, 100) * 50)
    assert fake.shape == (3, *shape) and fake.abs().max() <= 1.0
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in nets.generator.modules()) == 3
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in nets.critic.modules()) == 3
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in nets.critic.modules())
    assert nets.critic(fake).shape == (3, 1) and nets.detector(fake).shape == (3, 2)
    # one image's critic value does not depend on the others in the batch
    torch.testing.assert_close(nets.critic(fake)[:1], nets.critic(fake[:1]), rtol=1e-5, atol=1e-5)


def test_code_curve_is_a_moving_average_of_the_gap_to_the_largest_loss():
    losses = [1.0, 3.0, 2.0] + [0.0] * 12
    curve = code_curve(losses)
    gap = np.abs(3.0 - np.array(losses))
    assert len(curve) == len(losses)
    np.testing.assert_allclose(curve[:3], [2.0, 1.0, 1.0])  # the first steps: the mean of what there is
    np.testing.assert_allclose(curve[9:], [gap[i - 9:i + 1].mean() for i in range(9, len(losses))])


def test_code_selection_saves_every_second_generator_step(mini, monkeypatch):
    """selection_curve="code": I is saved every second generator step and the bands apply to the code's curve
    at those steps; "epochs" in the selection count snapshots."""
    seen = []
    generator_step = G2D._generator_step

    def spy(self, *args):
        seen.append(generator_step(self, *args))
        return seen[-1]

    monkeypatch.setattr(G2D, "_generator_step", spy)
    det = oneclass.create("g2d", **{**TINY, "epochs": 6, "n_critic": 1, "selection_curve": "code"}).fit(
        mini["x_train"][:40])  # 3 batches per epoch, one generator step each: 18 steps, 9 snapshots
    info = det.fit_info_
    assert len(seen) == 18 and len(det.generator_snapshots_) == info["snapshots"] == 9
    np.testing.assert_allclose(info["gan_loss"], np.round(code_curve(seen)[1::2], 6), atol=1e-6)
    chosen = info["selected_epochs"]["far"] + info["selected_epochs"]["boundary"]
    assert chosen and max(chosen) <= 9 - det.h
    final = det.net_.generator.state_dict()
    assert all(torch.equal(v, final[k].cpu()) for k, v in det.generator_snapshots_[-1].items())  # the final I
    np.testing.assert_array_equal(det.generate(2, epoch=9), det.generate(2))
    # an odd number of generator steps: the final I is saved too, after step 15
    seen.clear()
    odd = oneclass.create("g2d", **{**TINY, "epochs": 5, "n_critic": 1, "selection_curve": "code"}).fit(
        mini["x_train"][:40])
    assert len(seen) == 15 and odd.fit_info_["snapshots"] == 8
    steps_saved = (2, 4, 6, 8, 10, 12, 14, 15)
    np.testing.assert_allclose(odd.fit_info_["gan_loss"], np.round([code_curve(seen)[i - 1] for i in steps_saved], 6),
                               atol=1e-6)
    final = odd.net_.generator.state_dict()
    assert all(torch.equal(v, final[k].cpu()) for k, v in odd.generator_snapshots_[-1].items())
    with pytest.raises(InputError, match="generator\\(s\\) saved"):  # one generator step: one snapshot, the final I
        oneclass.create("g2d", **{**TINY, "epochs": 6, "n_critic": 18, "selection_curve": "code"}).fit(mini["x_train"][:40])
    with pytest.raises(InputError, match="0 generator\\(s\\) saved"):  # no generator step at all
        oneclass.create("g2d", **{**TINY, "epochs": 6, "n_critic": 19, "selection_curve": "code"}).fit(mini["x_train"][:40])


def test_the_authors_networks_save_and_load(mini, tmp_path):
    x = mini["x_train"][:40]
    det = oneclass.create("g2d", **{**TINY, "epochs": 6, "n_critic": 1, "networks": "code",
                                    "selection_curve": "code"}).fit(x)
    det.save(tmp_path / "g2d")
    loaded = oneclass.load(tmp_path / "g2d")
    np.testing.assert_allclose(loaded.score(x).default, det.score(x).default, rtol=1e-5, atol=1e-6)
    kept = det.fit_info_["selected_epochs"]["far"][0]
    np.testing.assert_allclose(loaded.generate(3, epoch=kept), det.generate(3, epoch=kept), atol=1e-6)


def test_critic_steps_per_generator_step_and_one_snapshot_per_epoch(mini, monkeypatch):
    counts = {"critic": 0, "generator": 0}
    critic_step, generator_step = G2D._critic_step, G2D._generator_step

    def count(name, fn):
        def spy(self, *args):
            counts[name] += 1
            return fn(self, *args)
        return spy

    monkeypatch.setattr(G2D, "_critic_step", count("critic", critic_step))
    monkeypatch.setattr(G2D, "_generator_step", count("generator", generator_step))
    det = oneclass.create("g2d", **{**TINY, "n_critic": 3}).fit(mini["x_train"][:40])  # 3 batches per epoch
    assert counts == {"critic": 4 * 3, "generator": 4 * 3 // 3}
    snaps = det.generator_snapshots_
    assert len(snaps) == 4 and len(det.fit_info_["gan_loss"]) == 4
    assert not torch.equal(snaps[0]["decoder.fc.weight"], snaps[-1]["decoder.fc.weight"])


def test_detector_trains_on_normal_and_m_samples_of_each_selected_generator(mini, monkeypatch):
    seen = {"n": 0, "labels": []}
    cross_entropy = torch.nn.functional.cross_entropy

    def spy(logits, target, **kwargs):
        seen["n"] += len(target)
        seen["labels"].append(target)
        return cross_entropy(logits, target, **kwargs)

    monkeypatch.setattr("oneclass.methods.g2d.F.cross_entropy", spy)
    x = mini["x_train"][:40]
    det = oneclass.create("g2d", **{**TINY, "epochs": 6, "m": 7, "k": 2}).fit(x)
    info = det.fit_info_
    selected = info["selected_epochs"]["far"] + info["selected_epochs"]["boundary"]
    assert 1 <= len(selected) == info["k"] <= 2 and info["m"] == 7
    assert info["n_normal"] == 40 and info["n_generated"] == 7 * len(selected)
    labels = torch.cat(seen["labels"])
    assert seen["n"] == 40 + 7 * len(selected) and int(labels.sum()) == 7 * len(selected)
    # m defaults to as many generated images as normal ones
    balanced = oneclass.create("g2d", **{**TINY, "epochs": 6, "k": 2}).fit(x).fit_info_
    assert balanced["n_generated"] >= 40 and balanced["m"] == -(-40 // balanced["k"])


def test_scores_are_ds_irregular_probability_and_the_critic(mini):
    x = mini["x_train"][:32]
    det = oneclass.create("g2d", **TINY).fit(x)
    test = mini["x_test"][:20]
    s = det.score(test)
    with torch.no_grad():
        b = det.network_input(test)
        probs = torch.softmax(det.net_.detector(b).double(), dim=1)[:, 1].numpy()
        critic = -det.net_.critic(b).squeeze(1).numpy()
    np.testing.assert_allclose(s["p_irregular"], probs, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(s["critic"], critic, rtol=1e-5, atol=1e-5)
    assert s.default_name == "p_irregular"


def test_alpha_is_a_threshold_on_ds_target_probability():
    assert oneclass.create("g2d", alpha=0.3).decision_thresholds() == {"p_irregular": pytest.approx(0.7)}


@pytest.mark.parametrize("params, message", [
    ({"epochs": 5, "h": 5}, "epochs"), ({"epsilon1": 0.1, "epsilon2": 0.5}, "epsilon"), ({"k": 0}, "k must be an integer >= 1"),
    ({"m": 0}, "m must be an integer >= 1"), ({"alpha": 0.0}, "alpha"), ({"n_critic": 0}, "n_critic"),
    ({"label_smoothing": 1.0}, "label_smoothing"), ({"augmented_share": -0.1}, "augmented_share"),
    ({"latent_scale": 0}, "latent_scale")])
def test_bad_hyper_parameters_say_which(params, message):
    with pytest.raises(InputError, match=message):
        oneclass.create("g2d", **params)


def test_generate_from_any_epoch_after_fit_and_the_kept_ones_after_load(mini, tmp_path):
    det = oneclass.create("g2d", **{**TINY, "epochs": 6}).fit(mini["x_train"][:32])
    kept = det.fit_info_["selected_epochs"]["far"] + det.fit_info_["selected_epochs"]["boundary"]
    dropped = next(e for e in range(1, 6) if e not in kept)
    images = det.generate(5, epoch=dropped)
    assert images.shape == (5, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    np.testing.assert_array_equal(det.generate(5, epoch=kept[0], seed=1), det.generate(5, epoch=kept[0], seed=1))
    assert not np.array_equal(det.generate(5, epoch=kept[0]), det.generate(5))  # different generators
    det.save(tmp_path / "g2d")
    loaded = oneclass.load(tmp_path / "g2d")
    np.testing.assert_allclose(loaded.generate(5, epoch=kept[0]), det.generate(5, epoch=kept[0]), atol=1e-6)
    np.testing.assert_allclose(loaded.generate(5), det.generate(5), atol=1e-6)
    with pytest.raises(InputError, match=f"epoch {dropped}"):
        loaded.generate(5, epoch=dropped)


def test_g2d_learns_trousers(mini):
    """Trousers against the other nine classes of the embedded Fashion-MNIST: D, trained on 250 trousers and the
    samples of the chosen generators, must rank the other classes above the trousers."""
    from oneclass.data.protocols import one_vs_rest
    from oneclass.metrics import auroc

    split = one_vs_rest(mini, normal_class=1)
    det = oneclass.create("g2d", widths=(16, 32, 64), detector_epochs=5, calibration=0.0).fit(split.x_train)
    # 0.868-0.977 over seeds 0-4 (one thread); in bf16 0.865-0.977 (1 and 2 threads)
    assert auroc(split.y_test, det.score(split.x_test).default) > 0.75


def test_detector_options_change_what_d_learns_from(mini, monkeypatch):
    """`label_smoothing` reaches D's loss; `augmented_share` replaces that share of the irregular images with created
    anomalies of normal training images; `latent_scale` widens z for D's irregular images, not for `generate`."""
    x = mini["x_train"][:40]
    smoothing = []
    cross_entropy = torch.nn.functional.cross_entropy

    def spy(logits, target, **kwargs):
        smoothing.append(kwargs.get("label_smoothing"))
        return cross_entropy(logits, target, **kwargs)

    monkeypatch.setattr("oneclass.methods.g2d.F.cross_entropy", spy)
    det = oneclass.create("g2d", **{**TINY, "epochs": 6, "m": 10, "k": 2, "label_smoothing": 0.2}).fit(x)
    assert smoothing and set(smoothing) == {0.2}
    images = det.network_input(x)
    k = det.fit_info_["k"]
    drawn = det.irregular_images(images, 10, torch.Generator().manual_seed(0))
    assert len(drawn) == 10 * k
    det.set_params(augmented_share=0.5)
    mixed = det.irregular_images(images, 10, torch.Generator().manual_seed(0))
    made = mixed[len(mixed) - 5 * k:]  # the created ones come last
    assert len(mixed) == 10 * k and not any(torch.equal(m, d) for m in made for d in drawn)
    assert made.min() == images.min() and made.max() == images.max()  # rearranged normal images: their own pixels
    det.set_params(augmented_share=0.0, latent_scale=3.0)
    wide = det.irregular_images(images, 10, torch.Generator().manual_seed(0))
    assert not torch.equal(wide, drawn)
    np.testing.assert_array_equal(det.generate(4, seed=1), det.set_params(latent_scale=1.0).generate(4, seed=1))
