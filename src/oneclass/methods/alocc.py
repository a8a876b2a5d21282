"""`alocc`: Adversarially Learned One-Class Classifier for novelty detection (ALOCC, Sabokrou et al., CVPR 2018).

A denoising reconstructor R and a discriminator D are trained GAN-style on the target class: D tells real
images from R's reconstructions of noisy ones, R learns to fool D while staying close to the clean image.
R refines target-class images and distorts the rest, so D(R(X)), the likelihood of the target class after
refinement, separates the two better than D(X).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from oneclass import params as rules
from oneclass.core import MAP, TorchDetector
from oneclass.errors import InputError
from oneclass.methods.adacl import create_anomalies, rearranging_kinds
from oneclass.nn import downsampled_sizes
from oneclass.runtime import map_batches
from oneclass.training import fit_epochs


def _batch_norm(channels: int, epsilon: float, decay: float) -> nn.BatchNorm2d:
    """BatchNorm with the paper's ε and a running-average decay in TensorFlow's sense (PyTorch momentum = 1 − decay)."""
    return nn.BatchNorm2d(channels, eps=epsilon, momentum=1.0 - decay)


def _init_weights(module: nn.Module) -> None:
    """DCGAN initialisation, as the authors' code: conv and dense weights N(0, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)


class Reconstructor(nn.Module):
    """R (Fig. 3): 5×5 stride-2 convolutions C→64→128→256→512, each followed by BatchNorm and LeakyReLU(0.2),
    no pooling; 5×5 stride-2 deconvolutions back 512→256→128→64 (BatchNorm, ReLU) and → C with tanh. The
    deconvolutions return exactly the sizes the encoder saw, so 28×28, 30×30 and 32×32 inputs all round-trip."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], epsilon: float, decay: float):
        super().__init__()
        c, h, w = input_shape
        sizes = downsampled_sizes((h, w), len(widths))
        chans = (c, *widths)
        enc: list[nn.Module] = []
        for i in range(len(widths)):
            enc += [nn.Conv2d(chans[i], chans[i + 1], 5, 2, 2), _batch_norm(chans[i + 1], epsilon, decay), nn.LeakyReLU(0.2)]
        dec: list[nn.Module] = []
        for i in range(len(widths), 0, -1):  # from the smallest map back up to the input size
            (h_in, w_in), (h_out, w_out) = sizes[i], sizes[i - 1]
            extra = (h_out - 2 * h_in + 1, w_out - 2 * w_in + 1)  # output_padding that lands on the size seen
            dec.append(nn.ConvTranspose2d(chans[i], chans[i - 1], 5, 2, 2, output_padding=extra))
            dec += [_batch_norm(chans[i - 1], epsilon, decay), nn.ReLU()] if i > 1 else [nn.Tanh()]
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class Discriminator(nn.Module):
    """D (Fig. 4): 5×5 stride-2 convolutions C→64→128→256→512 with LeakyReLU(0.2), BatchNorm after all but the
    first (as DCGAN and the authors' code), and a dense layer to one logit: D(X) = sigmoid(logit), the
    likelihood that X belongs to the target class."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], epsilon: float, decay: float):
        super().__init__()
        c, h, w = input_shape
        fh, fw = downsampled_sizes((h, w), len(widths))[-1]
        chans = (c, *widths)
        layers: list[nn.Module] = []
        for i in range(len(widths)):
            layers.append(nn.Conv2d(chans[i], chans[i + 1], 5, 2, 2))
            if i > 0:
                layers.append(_batch_norm(chans[i + 1], epsilon, decay))
            layers.append(nn.LeakyReLU(0.2))
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.logit = nn.Linear(widths[-1] * fh * fw, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (n,); D(X) is their sigmoid."""
        return self.logit(self.features(x)).squeeze(1)


class ALOCCNetworks(nn.Module):
    """R and D in one module, so that they are saved and selected together; with `d_average`, also an exponential
    moving average of D's weights and BatchNorm statistics (`discriminator_average`), which then scores."""

    def __init__(self, reconstructor: Reconstructor, discriminator: Discriminator, d_average: float | None):
        super().__init__()
        self.reconstructor = reconstructor
        self.discriminator = discriminator
        self.discriminator_average = None if d_average is None else AveragedModel(
            discriminator, multi_avg_fn=get_ema_multi_avg_fn(d_average), use_buffers=True)

    @property
    def scoring_discriminator(self) -> nn.Module:
        """The discriminator that scores (D, in eval mode where the paper's code scores so)."""
        return self.discriminator if self.discriminator_average is None else self.discriminator_average.module


class ALOCC(TorchDetector):
    """ALOCC (see docs/methods.md for what the paper leaves open and our choices).

    The defaults are our CPU budget: `widths` (16, 32, 64, 128) and 15 `epochs`; the paper's (the authors'
    (64, 128, 256, 512), 40 epochs, no second phase) are `oneclass.create("alocc", preset="paper")` or
    `--preset paper`.

    **Unlike the paper, D is fine-tuned in a second phase by default** (issue 51): the paper's D, trained only against
    R's reconstructions of normal images, says nothing reliable about an outlier's reconstruction (its D(R(X))
    AUROC swings from seed to seed, 0.39–0.82 on Fashion-MNIST class 0). After the adversarial epochs, R is frozen
    and D trains for `phase_two_epochs` = 6 more epochs (RMSProp, `phase_two_lr` 2e-4) to tell X and R(X) from R's
    reconstructions of created anomalies of X (`phase_two_bad="created"`: cut-paste, rotation, puzzle). Chosen on
    held-out normals and anomalies of kinds it does not train on, never on test labels (docs/methods.md).
    `phase_two_bad="old"` is OGNet's second phase (Zaheer et al., CVPR 2020: the bad ones are an early R's outputs,
    R after `old_epoch` epochs, and reconstructed blends of two of them); `phase_two_epochs=0` is the paper's D.

    Hyper-parameters in the paper's names: `lambda_` weighs L_R = ‖X − R(X̃)‖² (summed over pixels on the
    [-1, 1] scale, averaged over images) against R's adversarial loss; `sigma`, the standard deviation of the
    Gaussian noise η added to R's training input, on the 0–1 image scale (the authors' code: 0.155); `rho`:
    training stops after the first epoch whose mean L_R falls under ρ (None: the paper gives no value, so the
    whole epoch budget runs); `tau`, the decision threshold on D (target if D > τ); BatchNorm `epsilon` and
    `decay`. Ours, as the authors' code where the paper is silent: `widths` of R's encoder and of D, RMSProp
    with `lr`, `r_steps` updates of R per update of D (the code: 2; the paper's GAN alternation: 1),
    `epochs` (a budget; `rho` may stop earlier), `batch_size`. Ours: `d_batches`, how D sees a batch's real and
    reconstructed images: "mixed", one batch of both, so that D's BatchNorm trains on the statistics its running
    averages hold at test time, or "separate", two batches as the authors' code. Ours, for issue 25's instability
    of D(R(X)): `d_average`, the decay of an exponential moving average of D's weights and BatchNorm statistics,
    updated after every D step, which then gives the D scores (None: D itself, as the paper). The second phase:
    `phase_two_epochs`, `phase_two_lr`, `phase_two_bad` and `old_epoch`, above.

    Scores: `d_rx` = 1 − D(R(X)) (default), `d_x` = 1 − D(X), `rec` = mean squared error of R(X).
    Anomaly maps: |X − R(X)| (mean over channels).
    """

    name = "alocc"
    score_names = ("d_rx", "d_x", "rec")
    default_score = "d_rx"
    has_anomaly_maps = True
    param_rules = {"lambda_": rules.number(0), "sigma": rules.number(0),
                   "rho": rules.either(rules.number(0, optional=True), rules.one_of("noise")),
                   "tau": rules.number(0, 1, low_open=True, high_open=True), "epsilon": rules.number(0, low_open=True),
                   "decay": rules.number(0, 1, high_open=True), "widths": rules.integers(1),
                   "lr": rules.number(0, low_open=True), "r_steps": rules.integer(1),
                   "d_batches": rules.one_of("mixed", "separate"),
                   "d_average": rules.number(0, 1, low_open=True, high_open=True, optional=True), "epochs": rules.integer(1),
                   "phase_two_epochs": rules.integer(0), "old_epoch": rules.integer(1),
                   "phase_two_bad": rules.one_of("old", "created"),
                   "phase_two_lr": rules.number(0, low_open=True), "batch_size": rules.integer(1)}

    def __init__(self, *, input_shape: tuple[int, int, int] | None = None, lambda_: float = 0.4, sigma: float = 0.155,
                 rho: float | str | None = None, tau: float = 0.5, epsilon: float = 1e-6, decay: float = 0.9,
                 widths: tuple[int, ...] = (16, 32, 64, 128), lr: float = 0.002, r_steps: int = 1,
                 d_batches: str = "mixed", d_average: float | None = None, epochs: int = 15,
                 phase_two_epochs: int = 6, old_epoch: int = 1, phase_two_lr: float = 0.0002, phase_two_bad: str = "created",
                 batch_size: int = 128, seed: int = 0, device: str = "auto",
                 precision: str = "auto", threshold_fpr: float = 0.05, calibration: float = 0.1):
        self._set_params(locals())

    @classmethod
    def _check_combinations(cls, p: dict) -> None:
        if p["phase_two_epochs"] and p["phase_two_bad"] == "old" and not p["old_epoch"] < p["epochs"]:
            raise InputError(f"old_epoch must come before the last epoch, got old_epoch={p['old_epoch']}, epochs={p['epochs']}")

    def _build(self) -> nn.Module:
        args = (self.input_shape_, tuple(self.widths), self.epsilon, self.decay)
        reconstructor, discriminator = Reconstructor(*args), Discriminator(*args)
        _init_weights(reconstructor)
        _init_weights(discriminator)
        return ALOCCNetworks(reconstructor, discriminator, self.d_average)

    def decision_thresholds(self) -> dict[str, float]:
        """τ on D, as thresholds on the scores 1 − D: anomalous when D ≤ τ."""
        return {"d_rx": 1.0 - self.tau, "d_x": 1.0 - self.tau}

    # -- training ----------------------------------------------------------------------------------
    def _fit(self, x: torch.Tensor, val, known=None) -> None:
        gen = torch.Generator().manual_seed(self.seed)
        net = self._new_net()
        opt_r = torch.optim.RMSprop(net.reconstructor.parameters(), lr=self.lr)
        opt_d = torch.optim.RMSprop(net.discriminator.parameters(), lr=self.lr)
        rho = self._noise_energy(x) if self.rho == "noise" else self.rho
        old: list[nn.Module] = []  # R after `old_epoch` epochs, for the second phase

        def end_epoch(epoch: int, history: dict) -> bool:
            stop = rho is not None and history["r_rec"][-1] < rho
            if self.phase_two_epochs and self.phase_two_bad == "old" and not old and (epoch == self.old_epoch or stop):
                old.append(copy.deepcopy(net.reconstructor).eval())
            return stop

        record = fit_epochs(self._run, lambda batch: self._train_step(batch.images, opt_r, opt_d, gen), x, module=self.net_,
                            epochs=self.epochs, batch_size=self.batch_size, generator=gen, validation=self._validation(val),
                            end_epoch=end_epoch, stateful={"opt_r": opt_r, "opt_d": opt_d})
        stopped = record.pop("stopped_at", None)
        self.fit_info_.update(record, epoch_budget=self.epochs, rho=rho, stopped_by_rho=stopped)
        if self.phase_two_epochs:
            self.fit_info_["phase_two"] = self._phase_two(x, old[0] if old else None, gen)

    def _noise(self, shape: torch.Size, gen: torch.Generator) -> torch.Tensor:
        lo, hi = self.normalisation_["range"]
        return torch.randn(shape, generator=gen) * (self.sigma * (hi - lo))

    def _noisy(self, xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        lo, hi = self.normalisation_["range"]
        return (xb + self._noise(xb.shape, gen).to(xb.device)).clamp(lo, hi)

    def _noise_energy(self, x: torch.Tensor) -> float:
        """The training images' mean ‖X − X̃‖² (`rho="noise"`), from a generator of its own so that training draws
        the same noise with or without it."""
        gen = torch.Generator().manual_seed(self.seed + 1)
        energy = map_batches(lambda b: (b - self._noisy(b, gen)).pow(2).flatten(1).sum(1), x, self.torch_device)
        return round(float(energy.double().mean()), 4)

    def _train_step(self, xb: torch.Tensor, opt_r: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                    gen: torch.Generator) -> dict[str, float]:
        """One update of D (real X → 1, R(X̃) → 0), then `r_steps` of R (D(R(X̃)) → 1 plus λ L_R). Returns the
        batch's losses: D's, R's adversarial term and L_R, the last two from R's final step."""
        r, d = self.net_.reconstructor, self.net_.discriminator
        noisy = self._noisy(xb, gen)
        fake = r(noisy)
        # "mixed" (default): real and reconstructed images in one batch, so that the BatchNorm statistics D trains
        # with are those its running averages hold at test time; "separate": two batches, as the authors' code
        if self.d_batches == "separate":
            real_logits, fake_logits = d(xb), d(fake.detach())
        else:
            real_logits, fake_logits = d(torch.cat([xb, fake.detach()])).chunk(2)
        loss_d = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        if self.net_.discriminator_average is not None:
            self.net_.discriminator_average.update_parameters(d)
        for step in range(self.r_steps):
            if step > 0:
                fake = r(noisy)
            # the same batch composition as D's step
            logits = d(fake) if self.d_batches == "separate" else d(torch.cat([xb, fake])).chunk(2)[1]
            adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            rec = (xb - fake).pow(2).flatten(1).sum(1).mean()  # ‖X − X′‖², averaged over the batch
            opt_r.zero_grad(set_to_none=True)
            (adv + self.lambda_ * rec).backward()
            opt_r.step()
        return {"d": loss_d.item(), "r_adv": adv.item(), "r_rec": rec.item()}

    def _phase_two(self, x: torch.Tensor, old: nn.Module | None, gen: torch.Generator, epochs: int | None = None,
                   lr: float | None = None, end_epoch=None) -> dict:
        """OGNet's second phase (Zaheer et al., CVPR 2020): R and the old R frozen, D fine-tuned for `epochs` (default
        `phase_two_epochs`) at `lr` (default `phase_two_lr`) to tell good reconstructions (X and R(X), label 1) from
        bad ones (the old R's R_old(X), and pseudo anomalies R((R_old(X_i) + R_old(X_j)) / 2) of two images of the
        batch, label 0), the four groups weighed equally, in one batch as D's first phase. With
        `phase_two_bad="created"` (ours) the bad ones are R's reconstructions of two created anomalies of each image
        (cut-paste, rotation or puzzle) instead. `end_epoch` goes to the loop (the diagnosis scores D along the
        way). A caller's per-epoch tracking (`--track-epochs`) follows these epochs after the first phase's, so its
        last record is the model scored. Returns the record of the loop."""
        r, d = self.net_.reconstructor.eval(), self.net_.discriminator
        opt = torch.optim.RMSprop(d.parameters(), lr=self.phase_two_lr if lr is None else lr)
        kinds = rearranging_kinds(*x.shape[2:])

        def step(batch) -> dict[str, float]:
            xb = batch.images
            with torch.no_grad():
                if self.phase_two_bad == "old":
                    stale = old(xb)
                    partner = torch.randperm(len(xb), generator=gen).to(xb.device)
                    bad = torch.cat([stale, r((stale + stale[partner]) / 2)])
                else:
                    bad = r(torch.cat([create_anomalies(xb, gen, kinds) for _ in range(2)]))
                images = torch.cat([xb, r(xb), bad])
            logits = d(images)
            labels = torch.cat([torch.ones(2 * len(xb)), torch.zeros(2 * len(xb))]).to(logits)
            loss = F.binary_cross_entropy_with_logits(logits, labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if self.net_.discriminator_average is not None:
                self.net_.discriminator_average.update_parameters(d)
            return {"d": loss.item()}

        record = fit_epochs(self._run, step, x, module=d, epochs=self.phase_two_epochs if epochs is None else epochs,
                            batch_size=self.batch_size, generator=gen, end_epoch=end_epoch, stateful={"opt_d2": opt},
                            desc=f"{self.name} phase two")
        self.net_.eval()
        return {"epochs": record["epochs"], "bad": self.phase_two_bad, "train_loss": record["train_loss"],
                **({"old_epoch": self.old_epoch} if self.phase_two_bad == "old" else {})}

    # -- scoring -----------------------------------------------------------------------------------
    def forward(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        r, d = self.net_.reconstructor, self.net_.scoring_discriminator
        refined = r(batch)
        # 1 − sigmoid(l) = sigmoid(−l), in float64: distinct scores even where D saturates near 1
        return {"d_rx": torch.sigmoid(-d(refined).double()), "d_x": torch.sigmoid(-d(batch).double()),
                "rec": (batch - refined).pow(2).flatten(1).mean(1), MAP: (batch - refined).abs().mean(1)}

    def reconstruct(self, x) -> np.ndarray:
        """R(X) for images `x`, as floats in [0, 1] with shape (n, C, H, W) (the paper's Figure 6)."""
        return self._images_through(self.net_.reconstructor, x)
