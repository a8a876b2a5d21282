"""`g2d`: Generate to Detect anomalies (G2D, Pourreza et al., WACV 2021).

A Wasserstein GAN, irregularity generator I and critic C, is trained on normal images only, and I is kept
after every epoch. Early generators draw samples far from the normal class, generators close to convergence
draw samples on its boundary; k of them are chosen from I's loss curve, each draws m samples, and a CNN
detector D learns normal (class 0) against generated (class 1) as a plain binary classifier. D alone scores.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from oneclass import params as rules
from oneclass.core import TorchDetector
from oneclass.errors import InputError
from oneclass.methods.adacl import create_anomalies, rearranging_kinds
from oneclass.nn import ConvDecoder, ConvEncoder, clip_straight_through
from oneclass.nn.dcgan import InstanceNormCritic, TransposedGenerator
from oneclass.runtime import module_to_device
from oneclass.training import Batch, fit_epochs


def select_generators(losses: list[float], h: int, epsilon1: float, epsilon2: float, epsilon3: float,
                      k: int) -> dict[str, list]:
    """Choose the epochs whose generators make irregular samples, from I's per-epoch loss `losses[i - 1]` = L_I(i).

    L(i) = L_I(i) − L_I(i + h) measures how much I's loss still changes over the next h epochs. With |L|
    relative to its largest value over the run: `far` generators have |L| ≥ ε1 (early, changing fast),
    `boundary` generators a falling loss with ε3 ≤ L < ε2 (close to convergence), and |L| < ε3 counts as
    converged (normal-like samples, not used); between ε2 and ε1 nothing is taken. Boundary generators must
    have L > 0: the critic's estimate first rises while C learns, and where it turns |L| is small although I
    is nowhere near convergence. The last h epochs have no L. Of the candidates at most k are kept, half far
    and half boundary (one band fills what the other lacks), evenly spread within a band. Returns the
    differences L and the chosen 1-based epochs by band.
    """
    n = len(losses)
    diffs = [losses[i] - losses[i + h] for i in range(n - h)]
    scale = max((abs(d) for d in diffs), default=0.0)
    if scale == 0.0:
        return {"differences": diffs, "far": [], "boundary": []}
    rel = [d / scale for d in diffs]
    far = [i + 1 for i, r in enumerate(rel) if abs(r) >= epsilon1]
    boundary = [i + 1 for i, r in enumerate(rel) if epsilon3 <= r < epsilon2]
    n_far = min(len(far), max(k // 2, k - len(boundary)))
    n_boundary = min(len(boundary), k - n_far)
    return {"differences": [round(d, 6) for d in diffs], "far": _spread(far, n_far),
            "boundary": _spread(boundary, n_boundary)}


#: the authors' code saves I every second generator step and smooths its selection curve over ten steps
CODE_SNAPSHOT_STEPS = 2
CODE_CURVE_PERIOD = 10


def code_curve(generator_losses: list[float]) -> list[float]:
    """The authors' code's selection curve: moving_average(|max L_G − L_G|, 10) over the generator steps, the max
    taken over the whole run; each value averages the ten steps up to it (the first nine what there is: the code
    leaves them blank)."""
    gap = np.abs(np.max(generator_losses) - np.asarray(generator_losses))
    return [float(gap[max(0, i + 1 - CODE_CURVE_PERIOD):i + 1].mean()) for i in range(len(gap))]


def _spread(epochs: list[int], count: int) -> list[int]:
    """`count` of the sorted `epochs`, evenly spaced and including the first and the last."""
    if count >= len(epochs):
        return epochs
    if count == 0:
        return []
    return [epochs[i] for i in np.linspace(0, len(epochs) - 1, count).round().astype(int)]


class Generator(nn.Module):
    """I: z → dense layer → nearest-neighbour upsampling conv blocks (BatchNorm, LeakyReLU) → an image on [-1, 1],
    clipped (straight-through) rather than squashed by tanh, so that it can reach the exact black and white that
    real images hold: with tanh every generated pixel stays off the bounds, and D learned that cue instead of
    the shapes (test AUROC 0.60 on digit 1)."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], latent_dim: int):
        super().__init__()
        self.decoder = ConvDecoder(input_shape, widths, latent_dim)
        self.decoder.out[-1] = nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return clip_straight_through(self.decoder(z), -1.0, 1.0)


GENERATORS = {"ours": Generator, "code": TransposedGenerator}


class G2DNetworks(nn.Module):
    """I (the generator at the end of training), C, D and the selected generator snapshots, saved together.

    `networks` "ours": I = `Generator`; C = stride-2 conv blocks with LeakyReLU and no normalisation (the gradient
    penalty is per sample) → dense → a scalar. "code": the authors' code's `TransposedGenerator` and
    `InstanceNormCritic`. D either way: stride-2 conv blocks with BatchNorm → dense → two logits (target, irregular).
    """

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], latent_dim: int,
                 snapshot_epochs: list[int], networks: str = "ours"):
        super().__init__()
        make_generator = GENERATORS[networks]
        self.generator = make_generator(input_shape, widths, latent_dim)
        self.critic = (InstanceNormCritic(input_shape, widths) if networks == "code"
                       else ConvEncoder(input_shape, widths, 1, batch_norm=False))
        self.detector = ConvEncoder(input_shape, widths, 2)
        self.snapshots = nn.ModuleDict({str(e): make_generator(input_shape, widths, latent_dim) for e in snapshot_epochs})


class G2D(TorchDetector):
    """G2D (see docs/methods.md for what the paper leaves open and our choices).

    The defaults are our CPU budget: `widths` (16, 32, 64) and 5 `detector_epochs`; the paper's (widths
    (64, 128, 256), 10 detector epochs) are `oneclass.create("g2d", preset="paper")` or `--preset paper`.

    The paper's hyper-parameters: Adam `lr` 1e-4 with `betas` (0.5, 0.999) and `batch_size` 64 for I and C;
    `h` = 5, the epoch gap of the loss difference L = L_I(i) − L_I(i + h); `epsilon1` ≫ `epsilon2` ≫ `epsilon3`,
    the bands of |L| (relative to its largest value) that make a generator far, boundary or converged; `k`
    generators, `m` samples from each (None: as many generated samples in all as normal training images);
    D trained with SGD, `detector_lr` 0.01, `detector_momentum` 0.9, `detector_batch_size` 32, on the negative
    log-likelihood of its softmax; `alpha` = 0.5, the threshold on D's target probability. Ours where the paper
    is silent: WGAN with gradient penalty (`gp_weight` 10, `n_critic` 5 critic steps per generator step, as the
    WGAN-GP recipe whose optimiser settings the paper quotes), `latent_dim`, `widths` of all three networks,
    `epochs` of the GAN (n, the number of saved generators) and `detector_epochs`.

    The authors' public code, as options: `networks` "code" (their DCGAN generator with transposed convolutions
    and tanh, and their critic with InstanceNorm; ours by default) and `selection_curve` "code" (I is saved
    every two generator steps and after the last, and the bands apply to moving_average(|max L_G − L_G|, 10) over the generator
    steps, L_G = −mean C(I(z)); by default, "distance": I saved every epoch and the bands apply to the critic's
    Wasserstein estimate per epoch). With "code", "epoch" in the selection, `fit_info_` and `generate` counts
    snapshots (two generator steps each; the last may hold one).

    Ours, measured for issue 51 (what keeps D from ranking real outliers; off by default): `label_smoothing` of D's
    targets (PyTorch's cross-entropy smoothing), `augmented_share` of the irregular images made from normal training
    images by ADACL's cut-paste, puzzle or rotation instead of drawn from the generators, and `latent_scale`, the
    standard deviation of z when the chosen generators draw (wider: more varied samples).

    Scores: `p_irregular` = D's probability of the irregular class (default); `critic` = −C(X), the WGAN
    critic's opinion, for comparison.
    """

    name = "g2d"
    score_names = ("p_irregular", "critic")
    default_score = "p_irregular"
    state_attributes = ("selected_epochs_",)
    param_rules = {"networks": rules.one_of("ours", "code"), "selection_curve": rules.one_of("distance", "code"),
                   "h": rules.integer(1), "epsilon1": rules.number(0), "epsilon2": rules.number(0),
                   "epsilon3": rules.number(0), "k": rules.integer(1), "m": rules.integer(1, optional=True),
                   "alpha": rules.number(0, 1, low_open=True, high_open=True), "lr": rules.number(0, low_open=True),
                   "betas": rules.numbers(0, 1, length=2, high_open=True), "batch_size": rules.integer(1),
                   "n_critic": rules.integer(1), "gp_weight": rules.number(0), "latent_dim": rules.integer(1),
                   "widths": rules.integers(1), "epochs": rules.integer(2), "detector_lr": rules.number(0, low_open=True),
                   "detector_momentum": rules.number(0, 1, high_open=True), "detector_batch_size": rules.integer(1),
                   "detector_epochs": rules.integer(1), "label_smoothing": rules.number(0, 1, high_open=True),
                   "augmented_share": rules.number(0, 1, high_open=True), "latent_scale": rules.number(0, low_open=True)}

    def __init__(self, *, input_shape: tuple[int, int, int] | None = None, h: int = 5, epsilon1: float = 0.5,
                 epsilon2: float = 0.1, epsilon3: float = 0.01, k: int = 10, m: int | None = None,
                 alpha: float = 0.5, lr: float = 1e-4, betas: tuple[float, float] = (0.5, 0.999),
                 batch_size: int = 64, n_critic: int = 5, gp_weight: float = 10.0, latent_dim: int = 100,
                 widths: tuple[int, ...] = (16, 32, 64), epochs: int = 30, detector_lr: float = 0.01,
                 detector_momentum: float = 0.9, detector_batch_size: int = 32, detector_epochs: int = 5,
                 label_smoothing: float = 0.0, augmented_share: float = 0.0, latent_scale: float = 1.0,
                 networks: str = "ours", selection_curve: str = "distance", seed: int = 0, device: str = "auto",
                 precision: str = "auto", threshold_fpr: float = 0.05, calibration: float = 0.1):
        self._set_params(locals())

    @classmethod
    def _check_combinations(cls, p: dict) -> None:
        if p["epochs"] <= p["h"]:
            raise InputError(f"epochs must be more than h (L_I(i + h) must exist); got h={p['h']}, epochs={p['epochs']}")
        if not p["epsilon1"] > p["epsilon2"] > p["epsilon3"]:
            raise InputError(f"need epsilon1 > epsilon2 > epsilon3 >= 0, got {p['epsilon1']}, {p['epsilon2']}, {p['epsilon3']}")

    def _build(self) -> nn.Module:
        return G2DNetworks(self.input_shape_, tuple(self.widths), self.latent_dim,
                           sorted(self.selected_epochs_["far"] + self.selected_epochs_["boundary"]), self.networks)

    def decision_thresholds(self) -> dict[str, float]:
        """α on D's target probability, as a threshold on P(irregular) = 1 − D(X): irregular when D(X) < α."""
        return {"p_irregular": 1.0 - self.alpha}

    # -- training ----------------------------------------------------------------------------------
    def _fit(self, x: torch.Tensor, val, known=None) -> None:
        gen = torch.Generator().manual_seed(self.seed)
        self.selected_epochs_ = {"far": [], "boundary": []}
        net = self._new_net()
        snapshots, losses = self._train_gan(x, gen)
        if len(snapshots) <= self.h:  # only with selection_curve="code": "distance" saves one an epoch
            raise InputError(f"g2d: {len(snapshots)} generator(s) saved, and choosing them needs more than h={self.h}: "
                             f"selection_curve='code' saves one every {CODE_SNAPSHOT_STEPS} generator steps of "
                             f"n_critic={self.n_critic} batches each; train for more epochs")
        chosen = select_generators(losses, self.h, self.epsilon1, self.epsilon2, self.epsilon3, self.k)
        epochs = sorted(chosen["far"] + chosen["boundary"])
        if not epochs:
            raise InputError("g2d: no generator qualified as irregular (I's loss did not change over the run); "
                             "train for more epochs or lower epsilon3")
        self.selected_epochs_ = {"far": chosen["far"], "boundary": chosen["boundary"]}
        for e in epochs:
            net.snapshots[str(e)] = self._generator_at(snapshots[e - 1])
        m = self.m if self.m is not None else math.ceil(len(x) / len(epochs))
        generated = self.irregular_images(x, m, gen)
        self.generator_snapshots_ = snapshots
        self.fit_info_.update(gan_epochs=self.epochs, snapshots=len(snapshots), selection_curve=self.selection_curve,
                              gan_loss=[round(v, 6) for v in losses],
                              loss_differences=chosen["differences"], selected_epochs=self.selected_epochs_,
                              k=len(epochs), m=m, n_normal=len(x), n_generated=len(generated))
        self._train_detector(x, generated, val, gen)

    def _train_gan(self, x: torch.Tensor, gen: torch.Generator) -> tuple[list[dict], list[float]]:
        """WGAN-GP on the normal images. One critic step per batch, one generator step per `n_critic` of them.
        Returns I's saved weights and the curve the generators are chosen from: with `selection_curve`
        "distance", I after every epoch and L_I per epoch (eq. 3: mean C(x) − mean C(I(z)) over the epoch's critic
        steps, the critic's estimate of the Wasserstein distance); with "code", I after every second generator
        step (and after the last) and moving_average(|max L_G − L_G|, 10) there, L_G = −mean C(I(z)) of each
        generator step."""
        net = self.net_
        opt_i = torch.optim.Adam(net.generator.parameters(), lr=self.lr, betas=tuple(self.betas))
        opt_c = torch.optim.Adam(net.critic.parameters(), lr=self.lr, betas=tuple(self.betas))
        snapshots: list[dict[str, torch.Tensor]] = []
        losses: list[float] = []  # unrounded: the generators are chosen from them
        generator_losses: list[float] = []
        saved_at: list[int] = []  # "code": the generator steps after which I was saved
        critic_steps = 0
        per_step = self.selection_curve == "code"

        def save() -> None:
            snapshots.append({k: v.detach().cpu().clone() for k, v in net.generator.state_dict().items()})

        def step(batch: Batch) -> float:
            nonlocal critic_steps
            distance = self._critic_step(batch.images, opt_c, gen)
            critic_steps += 1
            if critic_steps % self.n_critic == 0:
                generator_losses.append(self._generator_step(len(batch.images), opt_i, gen))
                if per_step and len(generator_losses) % CODE_SNAPSHOT_STEPS == 0:
                    save()
                    saved_at.append(len(generator_losses))
            return distance

        def end_epoch(epoch: int, history: list) -> None:
            if not per_step:
                save()
                losses.append(history[-1])

        fit_epochs(self._run, step, x, epochs=self.epochs, batch_size=self.batch_size, generator=gen, module=net.generator,
                   end_epoch=end_epoch, track=False, desc=f"{self.name} GAN epochs")
        if per_step:
            if generator_losses and saved_at[-1:] != [len(generator_losses)]:
                save()  # the final I is always the last snapshot, as with "distance"
                saved_at.append(len(generator_losses))
            curve = code_curve(generator_losses) if generator_losses else []
            losses = [curve[s - 1] for s in saved_at]  # the curve over the whole run, read where I was saved
        return snapshots, losses

    def _noise(self, n: int, gen: torch.Generator, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(n, self.latent_dim, generator=gen) * scale).to(self.torch_device)

    def _critic_step(self, real: torch.Tensor, opt_c: torch.optim.Optimizer, gen: torch.Generator) -> float:
        """max_C mean C(x) − mean C(I(z)), with the penalty gp_weight·(‖∇C(x̂)‖ − 1)² on random interpolates x̂."""
        critic = self.net_.critic
        with torch.no_grad():
            fake = self.net_.generator(self._noise(len(real), gen))
        t = torch.rand(len(real), 1, 1, 1, generator=gen).to(real.device)
        mixed = (t * real + (1 - t) * fake).requires_grad_(True)
        scores = critic(torch.cat([real, fake, mixed])).squeeze(1)
        c_real, c_fake, c_mixed = scores.split(len(real))
        grad, = torch.autograd.grad(c_mixed.sum(), mixed, create_graph=True)
        penalty = (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
        distance = c_real.mean() - c_fake.mean()
        opt_c.zero_grad(set_to_none=True)
        (self.gp_weight * penalty - distance).backward()
        opt_c.step()
        return distance.item()

    def _generator_step(self, n: int, opt_i: torch.optim.Optimizer, gen: torch.Generator) -> float:
        """min_I −mean C(I(z)); the critic's weights are frozen meanwhile. Returns the loss, L_G."""
        critic = self.net_.critic
        critic.requires_grad_(False)
        loss = -critic(self.net_.generator(self._noise(n, gen))).mean()
        opt_i.zero_grad(set_to_none=True)
        loss.backward()
        opt_i.step()
        critic.requires_grad_(True)
        return loss.item()

    def _generator_at(self, state: dict[str, torch.Tensor]) -> nn.Module:
        module = GENERATORS[self.networks](self.input_shape_, tuple(self.widths), self.latent_dim)
        module.load_state_dict(state)
        return module_to_device(module, self.torch_device).eval()

    @torch.no_grad()
    def _draw(self, generator: nn.Module, n: int, gen: torch.Generator | None = None, scale: float = 1.0) -> torch.Tensor:
        """n samples of a generator in eval mode (z ~ N(0, scale²)), on the network's [-1, 1] scale, on the CPU."""
        generator.eval()
        out = [generator(self._noise(min(512, n - i), gen, scale)).cpu() for i in range(0, n, 512)]
        return torch.cat(out).contiguous()

    def irregular_images(self, x: torch.Tensor, m: int, gen: torch.Generator) -> torch.Tensor:
        """D's irregular class: `m` samples of each chosen generator, of which `augmented_share` are replaced by
        created anomalies of random normal training images `x` (cut-paste, rotation or, for even sizes, puzzle)."""
        drawn = torch.cat([self._draw(self.net_.snapshots[key], m, gen, self.latent_scale)
                           for key in sorted(self.net_.snapshots, key=int)])
        n_made = round(self.augmented_share * len(drawn))
        if n_made == 0:
            return drawn
        keep = torch.randperm(len(drawn), generator=gen)[: len(drawn) - n_made]
        sources = x[torch.randint(len(x), (n_made,), generator=gen)]
        made = create_anomalies(sources, gen, rearranging_kinds(*x.shape[2:]))
        return torch.cat([drawn[keep], made])

    def _train_detector(self, x: torch.Tensor, generated: torch.Tensor, val, gen: torch.Generator) -> None:
        """D on normal (0) against generated (1) images: log-softmax + negative log-likelihood, SGD."""
        detector = self.net_.detector
        labels = torch.cat([torch.zeros(len(x), dtype=torch.long), torch.ones(len(generated), dtype=torch.long)])
        opt = torch.optim.SGD(detector.parameters(), lr=self.detector_lr, momentum=self.detector_momentum)

        def step(batch: Batch) -> float:
            loss = F.cross_entropy(detector(batch.images), batch.targets, label_smoothing=self.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()

        record = fit_epochs(self._run, step, torch.cat([x, generated]), targets=labels, epochs=self.detector_epochs,
                            batch_size=self.detector_batch_size, generator=gen, module=detector,
                            validation=self._validation(val), stateful={"opt": opt}, desc=f"{self.name} detector epochs")
        self.net_.eval()
        self.fit_info_.update(record, detector_loss=record.pop("train_loss"))

    # -- scoring and generation ----------------------------------------------------------------------
    def forward(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        logits = self.net_.detector(batch).double()
        # P(irregular) = softmax(logits)[1] = sigmoid(l1 − l0), in float64 to keep saturated scores distinct
        return {"p_irregular": torch.sigmoid(logits[:, 1] - logits[:, 0]),
                "critic": -self.net_.critic(batch).squeeze(1)}

    def generate(self, n: int, epoch: int | None = None, seed: int = 0) -> np.ndarray:
        """n samples of the generator saved after `epoch` (1-based; None = the last), as floats in [0, 1] with
        shape (n, C, H, W). Every epoch is available after `fit`; after `load`, the selected ones and the last."""
        if not self.fitted:
            raise InputError("g2d: call fit() before generate()")
        last = self.fit_info_.get("snapshots", self.fit_info_["gan_epochs"])
        if epoch is None or epoch == last:
            module = self.net_.generator
        elif str(epoch) in self.net_.snapshots:
            module = self.net_.snapshots[str(epoch)]
        elif hasattr(self, "generator_snapshots_") and 1 <= epoch <= len(self.generator_snapshots_):
            module = self._generator_at(self.generator_snapshots_[epoch - 1])
        else:
            kept = sorted(int(e) for e in self.net_.snapshots)
            raise InputError(f"g2d: no generator saved for epoch {epoch}; this model keeps epochs {kept} and {last}")
        out = self._draw(module, n, torch.Generator().manual_seed(seed))
        return self._to_unit_range(out).numpy()
