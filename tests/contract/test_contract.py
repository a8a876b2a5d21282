"""Every built-in method passes the public conformance check, `oneclass.testing.check_detector`, on real images
(the contract a plugin's method is held to), and the check fails on a method that breaks the contract."""

from __future__ import annotations

import numpy as np
import pytest

import oneclass
from oneclass.methods.ae import AE
from oneclass.registry import detector_class
from oneclass.testing import check_detector
from tests.contract.test_methods import FAST


@pytest.fixture(scope="module")
def trousers(mini):
    return mini["x_train"][mini["y_train"] == 1][:96], mini["x_test"][:60]


@pytest.mark.parametrize("method", oneclass.available())
def test_every_method_keeps_the_detector_contract(method, trousers):
    train, test = trousers
    check_detector(detector_class(method), {**FAST[method], "device": "cpu"}, train, test)


class ScoresDependOnTheBatch(AE):
    """Broken on purpose: its score of an image depends on the other images scored with it."""

    def forward(self, batch, generator=None):
        out = super().forward(batch, generator)
        return {**out, "rec": out["rec"] - out["rec"].mean()}


def test_the_check_fails_on_a_method_that_breaks_the_contract(trousers):
    train, test = trousers
    with pytest.raises(AssertionError, match="depends on the scored set"):
        check_detector(ScoresDependOnTheBatch, {"epochs": 1}, train, test)
    assert np.isfinite(ScoresDependOnTheBatch(epochs=1).fit(train).score(test).default).all()  # it does run
