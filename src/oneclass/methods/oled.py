"""`oled`: One-Class Learned Encoder-Decoder with Adversarial Context Masking (OLED).

A Reconstructor R learns to rebuild images from which a Mask Module MM has hidden a fixed share of pixels;
MM learns, adversarially, to hide the pixels whose loss R finds hardest to inpaint. At test time MM masks
every image and R's errors — on the masked image, inside the hidden region and on the intact image — are
the anomaly scores.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from oneclass import params as rules
from oneclass.core import MAP, TorchDetector, minmax
from oneclass.errors import InputError
from oneclass.methods.cae import random_square_masks
from oneclass.nn import clip_straight_through, conv_block, downsampled_sizes
from oneclass.runtime import map_batches
from oneclass.training import Batch, Validation, fit_epochs, selection_rule

#: R's three errors, each a score of its own and a third of `avg`
ERRORS = ("mask", "cont", "rec")


def _decoder_blocks(widths: tuple[int, ...], sizes: list[tuple[int, int]], kernel: int) -> nn.Sequential:
    """Conv blocks with output widths `widths`, the i-th followed by nearest upsampling to `sizes[i]` (while
    sizes last). The first block keeps its input width, as in the authors' networks."""
    layers: list[nn.Module] = []
    for i, out in enumerate(widths):
        layers.append(conv_block(widths[max(i - 1, 0)], out, 1, kernel, bias=True))
        if i < len(sizes):
            layers.append(nn.Upsample(size=sizes[i], mode="nearest"))
    return nn.Sequential(*layers)


class Reconstructor(nn.Module):
    """R: 5×5 conv blocks (BatchNorm, LeakyReLU 0.2), stride 2 but the last stride 1, no pooling; a dense
    bottleneck; a decoder mirroring it (conv blocks, upsampling back to the sizes the encoder saw) and a 5×5
    conv to the image channels, clipped to [-1, 1]."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], latent_dim: int, kernel: int):
        super().__init__()
        c, h, w = input_shape
        sizes = downsampled_sizes((h, w), len(widths) - 1)
        chans = (c, *widths)
        self.encoder = nn.Sequential(
            *[conv_block(chans[i], chans[i + 1], 2 if i < len(widths) - 1 else 1, kernel, bias=True)
              for i in range(len(widths))], nn.Flatten(), nn.Linear(widths[-1] * sizes[-1][0] * sizes[-1][1], latent_dim))
        self.start = (widths[-1], *sizes[-1])
        self.expand = nn.Linear(latent_dim, widths[-1] * sizes[-1][0] * sizes[-1][1])
        self.decoder = _decoder_blocks(widths[::-1], sizes[-2::-1], kernel)
        self.out = nn.Conv2d(widths[0], c, kernel, 1, kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand(self.encoder(x)).view(-1, *self.start)
        return clip_straight_through(self.out(self.decoder(h)), -1.0, 1.0)


class MaskGenerator(nn.Module):
    """MG: a small conv autoencoder with a spatial bottleneck (stride-2 5×5 conv blocks down, conv blocks +
    upsampling back up), BatchNorm + LeakyReLU in every block and a ReLU on the one-channel activation map."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], kernel: int):
        super().__init__()
        c, h, w = input_shape
        sizes = downsampled_sizes((h, w), len(widths))
        chans = (c, *widths)
        self.encoder = nn.Sequential(*[conv_block(chans[i], chans[i + 1], 2, kernel, bias=True) for i in range(len(widths))])
        self.decoder = _decoder_blocks(widths[::-1], sizes[-2::-1], kernel)
        self.out = nn.Conv2d(widths[0], 1, kernel, 1, kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.out(self.decoder(self.encoder(x))))


class OLEDNetworks(nn.Module):
    """R and MG in one module, so that they are saved and selected together."""

    def __init__(self, reconstructor: Reconstructor, mask_generator: MaskGenerator | None):
        super().__init__()
        self.reconstructor = reconstructor
        self.mask_generator = mask_generator


def threshold_unit(activations: torch.Tensor, n_masked: int, epsilon: float, gradient: str = "eq2") -> torch.Tensor:
    """T (eq. 1–2): masks (n, 1, H, W) that are 0 on each image's `n_masked` highest activations, 1 elsewhere.

    The forward value hides exactly `n_masked` pixels per image: those above the `n_masked`-th largest activation s,
    then, of those equal to s, the first by position, written out with a cumulative sum rather than left to TopK,
    whose ties fall differently in PyTorch and in ONNX, so an exported graph hides the same pixels even on an image
    whose activations are all zero.
    The gradient: `"eq2"`, that of the paper's eq. 2, relu(s − A) / (relu(s − A) + ε) with s the `n_masked`-th
    largest activation; its derivative ε / (s − A)² is exactly 0 in float32 wherever s − A exceeds about 2e-5 at the
    paper's ε = 1e-12, so almost no pixel passes gradient. `"straight-through"`: d mask / dA = −1 everywhere (a
    higher activation hides more), the straight-through estimator of the hard threshold.
    """
    flat = activations.flatten(1)
    s = flat.topk(n_masked, dim=1).values[:, -1:]  # the n_masked-th largest activation, however ties fall
    above, tied = flat > s, flat == s
    first_tied = tied & (tied.long().cumsum(1) <= n_masked - above.long().sum(1, keepdim=True))
    hard = 1.0 - (above | first_tied).to(flat.dtype)
    if gradient == "straight-through":
        surrogate = -flat
    else:
        gap = F.relu(s - flat)
        surrogate = gap / (gap + epsilon)
    return (surrogate + (hard - surrogate).detach()).view_as(activations)


class OLED(TorchDetector):
    """OLED (see docs/methods.md for what the paper leaves open and our choices).

    The defaults are our CPU budget: `widths` (32, 48, 64), `kernel` 3, 30 `epochs`, the settings we measured
    best for that budget; the paper's network and schedule (widths (64, 96, 128), kernel 5, 300 epochs) are
    `oneclass.create("oled", preset="paper")` or `--preset paper`. Everything else is the paper's.

    Hyper-parameters in the paper's names: `t` — the percentage of pixels left visible (87.5: 12.5 % hidden);
    `gamma` weighs L_cont and `lambda_` weighs L_rec in R's objective L_mask + γ L_cont + λ L_rec (MM maximises
    L_mask + γ L_cont); `epsilon` — ε of the threshold unit (eq. 2); Adam with `lr`, `betas`; `epochs`.
    `mask_gradient`: how MG gets its gradient through the hard threshold, whose forward pass is always eq. 2's
    hard mask: "straight-through" (default: d mask / dA = −1) or "eq2" (the formula's own derivative, which in
    float32 is exactly 0 for all but the pixels within ~ε of the threshold; docs/methods.md has the measurements).
    Ours: `widths`, `latent_dim`, `mask_widths`, `kernel` (networks); `batch_size`; `mask_update_every`
    (MM is updated in every `mask_update_every`-th epoch, from the first; 3 as in the authors' code, chosen on
    the paper's validation set; 1 = always); `masking="random"` replaces MM by one random `mask_size`² square per
    image (the paper's CAE ablation, Table 4: same R, same losses). Model selection: `bench` and `train` give
    `fit` the paper's 150 inliers + 150 outliers from the training split (`bench.harness`) where the protocol
    has outliers; without `val`, `fit` keeps the last epoch, or with `val_size` > 0 holds out that many normal
    training images and keeps the epoch with the lowest R objective on them.

    Scores: `mask` (squared error of R(x ⊙ MM(x))), `cont` (absolute error in the hidden region),
    `rec` (squared error of R(x)), each min-max scaled, and `avg` (default), their mean. `score_scaling`: "fit"
    (default) scales each by its range over the normal images `fit` holds out for the threshold (or the training
    images), saved with the model, so an image's scores do not depend on what is scored with it; "scored-set"
    scales over the images scored together, as the paper evaluates (what `bench` uses: `bench.harness`).
    """

    name = "oled"
    score_names = ("mask", "cont", "rec", "avg")
    default_score = "avg"
    has_anomaly_maps = True
    state_attributes = ("score_ranges_",)
    param_rules = {"t": rules.number(0, 100, low_open=True, high_open=True), "gamma": rules.number(0),
                   "lambda_": rules.number(0), "epsilon": rules.number(0, low_open=True),
                   "mask_gradient": rules.one_of("eq2", "straight-through"), "widths": rules.integers(1),
                   "latent_dim": rules.integer(1), "mask_widths": rules.integers(1), "kernel": rules.odd_integer(),
                   "masking": rules.one_of("learned", "random"), "mask_size": rules.integer(1, optional=True),
                   "mask_update_every": rules.integer(1), "epochs": rules.integer(1), "batch_size": rules.integer(1),
                   "lr": rules.number(0, low_open=True), "betas": rules.numbers(0, 1, length=2, high_open=True),
                   "val_size": rules.integer(0), "score_scaling": rules.one_of("fit", "scored-set")}

    def __init__(self, *, input_shape: tuple[int, int, int] | None = None, t: float = 87.5, gamma: float = 50.0,
                 lambda_: float = 1.0, epsilon: float = 1e-12, mask_gradient: str = "straight-through",
                 widths: tuple[int, ...] = (32, 48, 64),
                 latent_dim: int = 64, mask_widths: tuple[int, ...] = (32, 48), kernel: int = 3,
                 masking: str = "learned", mask_size: int | None = None, mask_update_every: int = 3,
                 epochs: int = 30, batch_size: int = 128, lr: float = 5e-4, betas: tuple[float, float] = (0.5, 0.9),
                 val_size: int = 0, score_scaling: str = "fit", seed: int = 0, device: str = "auto",
                 precision: str = "auto", threshold_fpr: float = 0.05, calibration: float = 0.1):
        self._set_params(locals())

    # -- networks and masks --------------------------------------------------------------------------
    def _build(self) -> nn.Module:
        r = Reconstructor(self.input_shape_, tuple(self.widths), self.latent_dim, self.kernel)
        mg = MaskGenerator(self.input_shape_, tuple(self.mask_widths), self.kernel) if self.masking == "learned" else None
        return OLEDNetworks(r, mg)

    @property
    def n_masked(self) -> int:
        """Pixels hidden per image: (100 − t) % of them, at least one."""
        return max(1, round((100.0 - self.t) / 100.0 * self.input_shape_[1] * self.input_shape_[2]))

    @property
    def hole(self) -> int:
        """Side of the random square (`masking="random"`): `mask_size`, else 10 pixels per 28 as in Table 4."""
        return self.mask_size or max(1, round(10 * min(self.input_shape_[1:]) / 28))

    def _masks(self, xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.masking == "random":
            return random_square_masks(len(xb), xb.shape[2], xb.shape[3], self.hole, gen).to(xb.device)
        return threshold_unit(self.net_.mask_generator(xb), self.n_masked, self.epsilon, self.mask_gradient)

    def _losses(self, xb: torch.Tensor, masks: torch.Tensor, with_map: bool = False) -> dict[str, torch.Tensor]:
        """Per-image L_mask, L_cont, L_rec, each a mean over all pixels; L_cont's error is zero outside the hidden
        region (eq. 6 with x_c the image restricted to that region). `with_map`: also the squared error of R on the
        masked image per pixel (mean over channels), the anomaly map."""
        r = self.net_.reconstructor
        masked_error = r(xb * masks) - xb
        losses = {"mask": masked_error.pow(2).flatten(1).mean(1),
                  "cont": (masked_error.abs() * (1.0 - masks)).flatten(1).mean(1),
                  "rec": (r(xb) - xb).pow(2).flatten(1).mean(1)}
        return {**losses, MAP: masked_error.pow(2).mean(1)} if with_map else losses

    # -- training ----------------------------------------------------------------------------------
    def _fit(self, x: torch.Tensor, val, known=None) -> None:
        self.score_ranges_: dict[str, list[float]] = {}  # scores scale over the scored set until `_calibrate`
        gen = torch.Generator().manual_seed(self.seed)
        x_train, val_set, rule = x, val, selection_rule(val)
        if val is None and 0 < self.val_size < len(x) // 2:
            order = torch.randperm(len(x), generator=gen)
            x_train, val_set = x[order[self.val_size:]], (x[order[: self.val_size]], np.zeros(self.val_size, np.int64))
            rule = "val-normal"
        net = self._new_net()
        opt_r = torch.optim.Adam(net.reconstructor.parameters(), lr=self.lr, betas=tuple(self.betas))
        opt_m = None if net.mask_generator is None else torch.optim.Adam(
            net.mask_generator.parameters(), lr=self.lr, betas=tuple(self.betas))

        def step(batch: Batch) -> dict[str, float]:
            update_mask = opt_m is not None and (batch.epoch - 1) % self.mask_update_every == 0
            return self._train_step(batch.images, opt_r, opt_m if update_mask else None, gen)

        validation = None if val_set is None else Validation(
            rule, val_set[1], lambda: self._validation_values(val_set[0], rule))
        optimisers = {"opt_r": opt_r} if opt_m is None else {"opt_r": opt_r, "opt_m": opt_m}
        record = fit_epochs(self._run, step, x_train, module=self.net_, epochs=self.epochs, batch_size=self.batch_size,
                            generator=gen, validation=validation, stateful=optimisers)
        self.fit_info_.update(record, n_train_used=len(x_train))

    def _train_step(self, xb: torch.Tensor, opt_r: torch.optim.Optimizer, opt_m: torch.optim.Optimizer | None,
                    gen: torch.Generator) -> dict[str, float]:
        """One update of R (descending L_mask + γ L_cont + λ L_rec) and, with `opt_m`, of MG (ascending
        L_mask + γ L_cont), both from the same forward pass, as in the authors' code. Returns the batch's losses."""
        with torch.set_grad_enabled(opt_m is not None):
            masks = self._masks(xb, gen)
        losses = {k: v.mean() for k, v in self._losses(xb, masks).items()}
        opt_r.zero_grad(set_to_none=True)
        if opt_m is not None:
            opt_m.zero_grad(set_to_none=True)
        # one backward pass: R gets the gradient of its objective; MG, which L_rec does not reach, gets that of
        # L_mask + γ L_cont, negated so that its optimiser ascends
        (losses["mask"] + self.gamma * losses["cont"] + self.lambda_ * losses["rec"]).backward()
        opt_r.step()
        if opt_m is not None:
            for p in self.net_.mask_generator.parameters():
                p.grad.neg_()
            opt_m.step()
        return {k: v.item() for k, v in losses.items()}

    def _validation_values(self, x_val: torch.Tensor, rule: str) -> np.ndarray:
        """`val-with-outliers`: the default score (AUROC is taken on it); `val-normal`: R's objective per image."""
        if rule == "val-with-outliers":
            return self._outputs(x_val)[self.default_score]
        raw = self._raw_scores(x_val)
        return raw["mask"] + self.gamma * raw["cont"] + self.lambda_ * raw["rec"]

    # -- scoring -----------------------------------------------------------------------------------
    def _masked_pass(self, x: torch.Tensor, fn) -> torch.Tensor | dict[str, np.ndarray]:
        """`fn(batch, masks)` over `x`, batch by batch, in eval mode. Random masks are seeded, so the same images
        always get the same squares."""
        self.net_.eval()
        gen = torch.Generator().manual_seed(self.seed + 1)
        return map_batches(lambda b: fn(b, self._masks(b, gen)), x, self.torch_device)

    def _raw_scores(self, x: torch.Tensor) -> dict[str, np.ndarray]:
        return self._masked_pass(x, self._losses)

    @property
    def scores_relative_to_set(self) -> bool:
        """True with `score_scaling="scored-set"`: each score is min-max scaled over the images scored together."""
        return self.score_scaling == "scored-set"

    def _calibrate(self, images: torch.Tensor) -> None:
        """`score_scaling="fit"`: each raw score's range over these normal images."""
        if self.score_scaling == "fit":
            self.score_ranges_ = {k: [float(v.min()), float(v.max())] for k, v in self._raw_scores(images).items()}

    def forward(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """R's errors with MM's masks, each min-max scaled by the range `fit` saved, their mean `avg`, and the maps.
        With `score_scaling="scored-set"` (and in training, before the ranges exist) the errors stay raw here and
        `_over_set` scales them over the images scored together."""
        out = self._losses(batch, self._masks(batch, generator), with_map=True)
        if not self.score_ranges_:
            return out
        scaled = {k: (out[k] - lo) / max(hi - lo, 1e-12) for k in ERRORS for lo, hi in [self.score_ranges_[k]]}
        return {**scaled, "avg": (scaled["mask"] + scaled["cont"] + scaled["rec"]) / 3, MAP: out[MAP]}

    def _over_set(self, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.score_ranges_:
            return scores
        scaled = {k: minmax(scores[k]) for k in ERRORS}
        return {**scaled, "avg": (scaled["mask"] + scaled["cont"] + scaled["rec"]) / 3}

    def inpaint(self, x) -> dict[str, np.ndarray]:
        """For figures: `mask` (n, H, W; 0 = hidden), `masked` and `reconstruction` (R's output for the masked
        image) as images (n, C, H, W) in [0, 1], and MG's `activation` map (n, H, W; none with random masks)."""
        xs = self.network_input(x)
        res = self._masked_pass(xs, lambda b, m: {"mask": m[:, 0], "masked": b * m,
                                                  "reconstruction": self.net_.reconstructor(b * m)})
        for k in ("masked", "reconstruction"):
            res[k] = self._to_unit_range(res[k])
        if self.masking == "learned":
            res["activation"] = self._activations(xs)
        return res

    def _activations(self, xs: torch.Tensor) -> np.ndarray:
        self.net_.eval()
        return map_batches(self.net_.mask_generator, xs, self.torch_device)[:, 0].numpy()

    def activation_maps(self, x) -> np.ndarray:
        """MG's activation maps A (n, H, W): higher = more likely to be masked (the paper's §4.5 segmentation)."""
        if self.masking != "learned":
            raise InputError("activation_maps needs masking='learned' (random masks have no activation map)")
        return self._activations(self.network_input(x))

    @property
    def export_refusal(self) -> str | None:
        """Why this OLED cannot be exported (random masks, or scores scaled over the scored set), else None."""
        if self.masking == "random":
            return "its random test masks come from a seeded generator, outside the network"
        if self.score_scaling == "scored-set":
            return "its scores are scaled over the images scored together; fit it with score_scaling='fit'"
        return None
