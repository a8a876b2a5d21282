"""Epoch checkpoints: a training run stopped between epochs resumes and ends exactly where an uninterrupted one does."""

from collections import Counter

import numpy as np
import pytest
import torch

import oneclass
from oneclass.checkpoint import Checkpoint, Checkpointing
from oneclass.training import EveryEpoch
from tests.contract.test_methods import FAST

#: at least three epochs in the phase the test interrupts (G2D: its detector phase)
LONGER = {"g2d": {"detector_epochs": 3}, "dsvdd": {"epochs": 3}}


class Stop(Exception):
    pass


def test_a_checkpoint_round_trips_tensors_int_keys_counters_and_infinities(tmp_path):
    state = {"opt": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.rand(2, 3)}}, "param_groups": [{"lr": 1e-3}]},
             "milestones": Counter({50: 1}), "best": -float("inf"), "shape": (1, 28, 28), "none": None}
    ckpt = Checkpoint(tmp_path, "ae epochs", {"params": {"lr": 1e-3}})
    ckpt.save(state)
    back = ckpt.load()
    assert back["opt"]["state"][0]["exp_avg"].equal(state["opt"]["state"][0]["exp_avg"])
    assert back["milestones"] == Counter({50: 1}) and isinstance(back["milestones"], Counter)
    assert back["best"] == -float("inf") and back["shape"] == (1, 28, 28) and back["none"] is None
    assert Checkpoint(tmp_path, "ae epochs", {"params": {"lr": 1e-2}}).load() is None  # another run's: ignored
    (tmp_path / "ae-epochs.safetensors").write_bytes(b"damaged")
    assert ckpt.load() is None


@pytest.mark.parametrize("method, options", [(m, {}) for m in oneclass.available() if m != "ocsvm"]
                         + [("adacl", {"weight_average": True})])
def test_training_stopped_after_an_epoch_resumes_to_the_same_model(method, options, mini, tmp_path):
    x = mini["x_train"][mini["y_train"] == 1][:96]
    val = (mini["x_test"][:40], mini["y_test"][:40] != 1)
    params = {**FAST[method], "epochs": 3, **LONGER.get(method, {}), **options}
    whole = oneclass.create(method, seed=1, **params).fit(x, val=val)

    def stop_at_epoch_2(epoch):
        if epoch == 2:
            raise Stop

    det = oneclass.create(method, seed=1, **params)
    with pytest.raises(Stop):
        det.fit(x, val=val, callbacks=[EveryEpoch(stop_at_epoch_2), Checkpointing(tmp_path / "ckpt")])
    assert list((tmp_path / "ckpt").glob("*.safetensors"))  # epoch 1's checkpoint
    det.fit(x, val=val, callbacks=[Checkpointing(tmp_path / "ckpt")])
    assert not list((tmp_path / "ckpt").iterdir())  # removed once training ended
    x_test = mini["x_test"][:100]
    for name, values in whole.score(x_test).items():
        np.testing.assert_array_equal(det.score(x_test)[name], values, err_msg=name)
    assert det.fit_info_ == whole.fit_info_  # losses, selection and best epoch included
