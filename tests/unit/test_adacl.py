"""ADACL: anomaly creation, labels, losses, validation, image sizes."""

import numpy as np
import pytest
import torch

import oneclass
from oneclass.errors import InputError
from oneclass.methods.adacl import ADACL, cut_paste, mix_up, puzzle, rotate
from oneclass.training import EveryEpoch


def _images(n=16, c=1, h=28, w=28, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_cut_paste_changes_one_square_with_pixels_of_the_same_image():
    x = _images()
    out = cut_paste(x, (0.25, 0.5), torch.Generator().manual_seed(1))
    for i in range(len(x)):
        changed = (out[i, 0] != x[i, 0]).nonzero()
        assert len(changed) > 0
        (y0, x0), (y1, x1) = changed.min(0).values.tolist(), changed.max(0).values.tolist()
        assert y1 - y0 < 15 and x1 - x0 < 15  # inside one square of side <= 14 (half of 28)
        assert set(out[i, 0, y0:y1 + 1, x0:x1 + 1].flatten().tolist()) <= set(x[i, 0].flatten().tolist())


def test_puzzle_shuffles_quarters_and_never_keeps_the_order():
    x = _images(64)
    out = puzzle(x, torch.Generator().manual_seed(2))
    for i in range(len(x)):
        q_in = [x[i, :, r:r + 14, c:c + 14] for r in (0, 14) for c in (0, 14)]
        q_out = [out[i, :, r:r + 14, c:c + 14] for r in (0, 14) for c in (0, 14)]
        match = [next(j for j, q in enumerate(q_in) if torch.equal(q, p)) for p in q_out]
        assert sorted(match) == [0, 1, 2, 3] and match != [0, 1, 2, 3]


def test_rotation_is_90_or_270_degrees_and_mix_up_blends():
    x = _images(32)
    out = rotate(x, torch.Generator().manual_seed(3))
    once, thrice = torch.rot90(x, 1, (2, 3)), torch.rot90(x, 3, (2, 3))
    kinds = [torch.equal(out[i], once[i]) or torch.equal(out[i], thrice[i]) for i in range(32)]
    assert all(kinds)
    mixed = mix_up(x, 0.5, torch.Generator().manual_seed(3))
    torch.testing.assert_close(mixed, 0.5 * x + 0.5 * out)


def test_labels_lie_in_their_intervals():
    det = ADACL()
    y = det._labels(1000, 1000, torch.Generator().manual_seed(0))
    assert 0 <= y[:1000].min() and y[:1000].max() <= 0.3 and 0.7 <= y[1000:].min() and y[1000:].max() <= 1
    assert set(ADACL(labelling="discrete")._labels(5, 5, torch.Generator()).tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 30, 30)])
def test_colour_and_video_patch_sizes(shape):
    x = (np.random.default_rng(0).random((40, *shape)) * 0.5).astype(np.float32)
    det = oneclass.create("adacl", epochs=1).fit(x)
    assert det.score(x[:5]).default.shape == (5,)
    assert det.fit_info_["epochs"] == 1 and ADACL(input_shape=shape).epochs_ == (15 if shape[0] == 3 else 10)
    assert sum(p.numel() for p in det.net_.parameters()) < 300_000


def test_validation_set_of_normals_and_their_augmentations_selects_the_epoch(mini):
    x = mini["x_train"][mini["y_train"] == 7]  # 250 sneakers
    det = oneclass.create("adacl", epochs=3, val_size=100, calibration=0.0).fit(x)
    info = det.fit_info_
    assert info["selection"] == "val-normal-aug" and info["n_train_used"] == 150 and len(info["val_history"]) == 3
    assert info["best_epoch"] == 1 + int(np.argmax(info["val_history"]))


def test_bad_options_are_one_line_errors():
    with pytest.raises(InputError, match="augmentations"):
        ADACL(augmentations=("blur",))
    with pytest.raises(InputError, match="x_l"):
        ADACL(x_l=0.8, x_h=0.7)
    with pytest.raises(InputError, match="square"):
        oneclass.create("adacl", epochs=1).fit(np.zeros((10, 28, 20), np.uint8))


def test_a_callback_that_scores_every_epoch_changes_nothing(mini):
    x = mini["x_train"][mini["y_train"] == 7]
    seen = []
    tracked = oneclass.create("adacl", epochs=2, val_size=50, widths=(8, 16))

    def callback(epoch):
        seen.append((epoch, tracked.score(x[:8]).default.shape, tracked.net_.training))

    plain = oneclass.create("adacl", epochs=2, val_size=50, widths=(8, 16)).fit(x)
    tracked.fit(x, callbacks=[EveryEpoch(callback)])
    assert seen == [(1, (8,), False), (2, (8,), False)]  # scoring puts the network in eval mode
    np.testing.assert_array_equal(plain.score(x).default, tracked.score(x).default)


def test_augmentations_given_as_a_string_is_a_one_line_error():
    with pytest.raises(InputError, match=r"a non-empty list drawn from .*got 'cut-paste'"):
        ADACL(augmentations="cut-paste")


def test_bce_ablation_is_a_sigmoid_classifier_that_learns(mini):
    x, y = mini["x_train"][mini["y_train"] == 1], mini["y_test"] != 1  # trousers
    det = oneclass.create("adacl", loss="bce", epochs=5, val_size=0, calibration=0.0).fit(x)
    s = det.score(mini["x_test"]).default
    assert 0.0 < s.min() and s.max() < 1.0  # a sigmoid never reaches its ends; the clipped output does
    # 0.954-0.973 over seeds 0-4, fp32 and bf16, 1 and 2 threads (results/learning-tests-adacl-bce-b64.txt)
    assert oneclass.metrics.auroc(y, s) > 0.8


def test_small_training_sets_get_at_least_min_steps_steps_an_epoch(mini):
    x = mini["x_train"][mini["y_train"] == 7]  # 250 sneakers
    det = oneclass.create("adacl", epochs=1, calibration=0.0, val_size=0).fit(x)
    assert det.fit_info_["batch_size_used"] == 32  # ceil(250 / 8): 8 steps, not 4 of 64
    det = oneclass.create("adacl", epochs=1, calibration=0.0, val_size=0, min_steps=2).fit(x)
    assert det.fit_info_["batch_size_used"] == 64  # the batch size itself when the set is large enough


def test_weight_decay_makes_it_adamw_and_shrinks_the_weights(mini):
    """`weight_decay` > 0 trains with AdamW (decoupled decay); 0, the default, is plain Adam."""
    x = mini["x_train"][mini["y_train"] == 7][:64]

    def weight_norm(**kwargs):
        det = oneclass.create("adacl", epochs=2, calibration=0.0, val_size=0, **kwargs).fit(x)
        return torch.cat([p.detach().flatten() for name, p in det.net_.named_parameters() if "weight" in name]).norm()

    plain, decayed = weight_norm(), weight_norm(weight_decay=0.5)
    assert decayed < 0.999 * plain  # 16 steps at lr up to 1e-3 shrink each weight by about 0.4 %


def test_batch_mix_gives_the_whole_batch_one_augmentation():
    det = ADACL(augmentations=("rotation", "puzzle"))
    x = _images(32)
    turned = lambda out: [torch.equal(o, torch.rot90(i, 1, (1, 2))) or torch.equal(o, torch.rot90(i, 3, (1, 2)))  # noqa: E731
                          for o, i in zip(out, x, strict=True)]
    per_batch = [turned(det.create_anomalies(x, torch.Generator().manual_seed(s), "batch")) for s in range(8)]
    assert all(all(t) or not any(t) for t in per_batch)  # one kind for every image of a batch
    assert {all(t) for t in per_batch} == {True, False}  # and both kinds over batches
    per_image = turned(det.create_anomalies(x, torch.Generator().manual_seed(0)))
    assert 0 < sum(per_image) < len(x)  # the default mixes within a batch


def test_created_per_normal_sets_the_ratio_and_the_mix_reaches_training(mini, monkeypatch):
    x = mini["x_train"][mini["y_train"] == 7][:64]
    calls = []
    create = ADACL.create_anomalies
    monkeypatch.setattr(ADACL, "create_anomalies",
                        lambda self, xs, gen, mix="image": calls.append((len(xs), mix)) or create(self, xs, gen, mix))
    oneclass.create("adacl", epochs=1, batch_size=16, min_steps=1, calibration=0.0, val_size=0,
                    created_per_normal=3, augmentation_mix="batch").fit(x)
    assert calls == [(48, "batch")] * 4  # 4 steps of 16 normal images, each with 3 × 16 created anomalies


def test_weight_average_scores_with_the_mean_of_every_epochs_weights(mini):
    x = mini["x_train"][mini["y_train"] == 7]
    epoch_weights, epoch_buffers = [], []

    def keep(epoch):
        epoch_weights.append({k: v.detach().clone() for k, v in det.net_.named_parameters()})
        epoch_buffers.append({k: v.clone() for k, v in det.net_.named_buffers() if k.endswith("running_mean")})

    det = oneclass.create("adacl", epochs=3, val_size=50, widths=(8, 16), weight_average=True, calibration=0.0)
    det.fit(x, callbacks=[EveryEpoch(keep)])
    assert len(epoch_weights) == 3 and det.fit_info_["selection"] == "weight-average"
    for name, value in det.net_.named_parameters():
        torch.testing.assert_close(value, torch.stack([w[name] for w in epoch_weights]).mean(0), msg=name)
    # BatchNorm statistics are recomputed for the averaged weights, not kept from an epoch's network
    buffers = dict(det.net_.named_buffers())
    assert epoch_buffers[0] and all(not torch.allclose(buffers[k], epoch[k]) for epoch in epoch_buffers for k in epoch)
    assert np.isfinite(det.score(x).default).all()


def test_members_score_with_the_mean_of_single_adacls_of_their_seeds_and_save(mini, tmp_path):
    x = mini["x_train"][mini["y_train"] == 7]
    options = dict(epochs=2, val_size=50, widths=(8, 16), calibration=0.0, precision="fp32")
    ensemble = oneclass.create("adacl", members=2, seed=3, **options).fit(x)
    singles = [oneclass.create("adacl", seed=s, **options).fit(x) for s in (3, 1003)]
    test = mini["x_test"]
    expected = np.mean([d.score(test).default for d in singles], axis=0)
    np.testing.assert_allclose(ensemble.score(test).default, expected, rtol=1e-5, atol=1e-6)
    assert ensemble.fit_info_["member_best_epochs"] == [d.fit_info_["best_epoch"] for d in singles]
    assert ensemble.fit_info_["member_val_histories"][1] == singles[1].fit_info_["val_history"]
    ensemble.save(tmp_path / "ensemble")
    np.testing.assert_allclose(oneclass.load(tmp_path / "ensemble").score(test).default, ensemble.score(test).default,
                               rtol=1e-6, atol=1e-6)
