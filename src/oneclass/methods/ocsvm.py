"""`ocsvm`: one-class SVM (scikit-learn, RBF kernel) on raw pixels.

scikit-learn fits it; we keep only the support vectors, their coefficients, the offset and γ, and
evaluate the decision function ourselves, so the model saves as plain tensors (no pickle).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.svm import OneClassSVM

from oneclass import params as rules
from oneclass.core import Detector


class OCSVM(Detector):
    """OC-SVM with an RBF kernel on pixels scaled to [0, 1]. Score: −decision function (higher = more anomalous).

    `gamma="scale"` is scikit-learn's 1 / (n_features · Var(x)); `max_train` caps the training set (a random
    subset, seeded) because fitting costs O(n²) memory and time.
    """

    name = "ocsvm"
    score_names = ("svm",)
    default_score = "svm"
    scoring_batch_size = 1024
    param_rules = {"nu": rules.number(0, 1, low_open=True, high_open=True),  # scikit-learn fails at 1
                   "gamma": rules.Rule("'scale', 'auto' or a number > 0", lambda v: v in ("scale", "auto")
                                       if isinstance(v, str) else rules.number(0, low_open=True).test(v)),
                   "max_train": rules.integer(1)}
    input_range = (0.0, 1.0)
    export_refusal = "its scores come from scikit-learn's support vectors, not a network"

    def __init__(self, *, input_shape: tuple[int, int, int] | None = None, nu: float = 0.1, gamma: float | str = "scale",
                 max_train: int = 10000, seed: int = 0, device: str = "auto",
                 precision: str = "auto", threshold_fpr: float = 0.05, calibration: float = 0.1):
        self._set_params(locals())

    def _fit(self, x: torch.Tensor, val, known=None) -> None:
        flat = x.flatten(1).double().numpy()
        if len(flat) > self.max_train:
            flat = flat[np.random.default_rng(self.seed).choice(len(flat), self.max_train, replace=False)]
        svm = OneClassSVM(kernel="rbf", nu=self.nu, gamma=self.gamma).fit(flat)
        self.support_vectors_ = torch.from_numpy(svm.support_vectors_).float()
        self.dual_coef_ = torch.from_numpy(svm.dual_coef_.ravel()).float()
        self.intercept_ = torch.tensor(float(svm.intercept_[0]))
        self.gamma_ = torch.tensor(float(svm._gamma))
        self.fit_info_.update(n_support=len(self.support_vectors_), n_fit=len(flat), selection="none")

    def forward(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """−(Σ α_i k(x, s_i) + b) with the RBF kernel k, in float64."""
        sv, coef = self.support_vectors_.to(batch.device, torch.float64), self.dual_coef_.to(batch.device, torch.float64)
        kernel = torch.exp(-self.gamma_.double() * torch.cdist(batch.flatten(1).double(), sv).pow(2))
        return {"svm": -(kernel @ coef + self.intercept_.double())}

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return {"support_vectors": self.support_vectors_, "dual_coef": self.dual_coef_,
                "intercept": self.intercept_, "gamma": self.gamma_}

    def _load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.support_vectors_ = tensors["support_vectors"]
        self.dual_coef_ = tensors["dual_coef"]
        self.intercept_ = tensors["intercept"]
        self.gamma_ = tensors["gamma"]
